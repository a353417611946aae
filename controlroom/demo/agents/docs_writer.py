"""Demo worker: writes the retry docs in parallel with the pipeline, then hands off (~35 s)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import HAIKU, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import HAIKU, DemoAgent

__all__: list[str] = []

DURATION_SECONDS = 35.0
SECTIONS = (
    ("Overview", "src/billing/client.py"),
    ("Which errors are retried", "src/billing/errors.py"),
    ("Backoff and jitter", "docs/design/billing-retry.md"),
    ("Idempotency keys", "docs/adr/0007-idempotency-keys.md"),
    ("Retry-After", "src/billing/client.py"),
    ("Troubleshooting", "docs/runbooks/billing.md"),
)


def main() -> int:
    agent = DemoAgent(cached_prefix=5200)
    agent.status("outlining docs/billing/retries.md")
    agent.pause()
    written = 0
    while agent.elapsed() < DURATION_SECONDS:
        title, source = SECTIONS[written % len(SECTIONS)]
        verb = "writing" if written < len(SECTIONS) else "tightening"
        agent.status(f"{verb} section: {title}")
        agent.pause()
        agent.tool("Read", file_path=source)
        agent.pause()
        agent.turn(HAIKU, 1500, 650)
        agent.pause()
        agent.tool(
            "Edit",
            file_path="docs/billing/retries.md",
            old_string=f"## {title}\n\nTODO",
            new_string=f"## {title}\n\n(draft {written // len(SECTIONS) + 1})",
        )
        agent.pause()
        written += 1
    agent.handoff(
        changed=(
            f"Wrote docs/billing/retries.md: {len(SECTIONS)} sections (what is retried, backoff "
            "and jitter, idempotency keys, Retry-After, troubleshooting) and linked it from the "
            "billing runbook."
        ),
        next_needs=(
            "Publish with the retry change; the troubleshooting section names the "
            "billing_retry_total metric, which must exist before the page goes live."
        ),
        risks="The numbers (5 attempts, 8 s cap) are copied from the design; keep them in sync.",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
