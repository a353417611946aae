"""Demo stage 3: reviews the implementer's change and signs it off."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import SONNET, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import SONNET, DemoAgent

__all__: list[str] = []


def main() -> int:
    agent = DemoAgent(cached_prefix=6800)
    upstream = agent.upstream()
    changed = upstream[0]["changed"] if upstream else "the change"
    agent.status(f"reviewing: {changed[:70]}")
    agent.pause()
    agent.tool("Bash", command="git diff --stat main -- src/billing tests/billing")
    agent.pause()
    agent.tool("Read", file_path="src/billing/retry.py")
    agent.pause()
    agent.turn(SONNET, 2900, 450)
    agent.status("checking that the idempotency key survives every attempt")
    agent.pause()
    agent.tool("Read", file_path="src/billing/client.py")
    agent.pause()
    agent.turn(SONNET, 2200, 380)
    agent.pause()
    agent.tool("Bash", command="pytest -q tests/billing -k 'retry or idempotency'")
    agent.pause()
    agent.status("tests: 11 passed, 14 deselected")
    agent.turn(SONNET, 800, 520)
    agent.pause()
    agent.handoff(
        changed=(
            "Reviewed the retry change: the policy matches docs/design/billing-retry.md, the "
            "Idempotency-Key is created once per charge() and reused on every attempt, jitter "
            "and the 25 s deadline are tested. Approved for merge."
        ),
        next_needs=(
            "Merge after the docs-writer's page lands; announce the new retry behaviour in "
            "#billing-eng, since support will see fewer 'payment failed' tickets."
        ),
        risks=(
            "Nobody has load-tested the sandbox gateway with jittered retries; watch the "
            "billing_retry_total metric for the first day after the deploy."
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
