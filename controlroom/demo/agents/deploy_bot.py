"""Demo agent that asks the operator itself: "deploy to staging?" (a native ``gate`` line)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import HAIKU, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import HAIKU, DemoAgent

__all__: list[str] = []

IMAGE = "billing-api:3f9a2c1"


def main() -> int:
    agent = DemoAgent(cached_prefix=4100)
    agent.status(f"building {IMAGE}")
    agent.pause()
    agent.tool("Bash", command=f"docker build -t {IMAGE} .")
    agent.pause()
    agent.turn(HAIKU, 1800, 240)
    agent.pause()
    agent.tool("Bash", command="pytest -q tests/smoke")
    agent.pause()
    agent.status("smoke tests: 9 passed")
    agent.turn(HAIKU, 700, 180)
    agent.pause()
    approved, reason = agent.gate(
        "deploy to staging?",
        f"{IMAGE} to staging: 3 replicas, rolling update; smoke tests passed",
    )
    if not approved:
        agent.status(f"staging deploy cancelled: {reason or 'rejected'}")
        return 0
    agent.status("deploying to staging")
    agent.tool("Bash", command="kubectl -n staging set image deploy/billing-api api=" + IMAGE)
    agent.pause()
    agent.tool("Bash", command="kubectl -n staging rollout status deploy/billing-api")
    agent.pause()
    agent.turn(HAIKU, 900, 200)
    agent.status(f"{IMAGE} is live on staging")
    return 0


if __name__ == "__main__":
    sys.exit(main())
