"""Journey: MongoDB projections of patient journeys, site dashboards and coach queues."""
