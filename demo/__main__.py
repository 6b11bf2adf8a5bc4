"""`make demo`: drive the scenario against the running local stack and print the results."""

from __future__ import annotations

import sys
import time

from demo import report, scenario
from demo.client import Api, base_urls


def main() -> int:
    api = Api(base_urls())
    started = time.monotonic()
    api.wait_ready()
    out, journeys = scenario.run(api)
    print(f"\nScenario ran through the public APIs in {time.monotonic() - started:.1f}s.\n")
    print("What the rules did:")
    for note in out.notes:
        print(f"  - {note}")
    print("\nPatient journeys (journey service, GET /patients/{id}/journey):\n")
    print(report.journeys(journeys))
    print("\nSite dashboards (GET /sites/{id}/dashboard):\n")
    for board in scenario.dashboards(api).values():
        print(report.dashboard(board) + "\n")
    print("The stack is still running: `make status`, `make logs`; stop it with `make down`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
