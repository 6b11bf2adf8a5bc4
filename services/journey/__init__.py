"""Journey: MongoDB projections of every patient's treatment journey, site dashboards, coach queues."""
