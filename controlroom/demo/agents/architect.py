"""Demo stage 1: designs the billing client's retry policy and hands it to the implementer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import SONNET, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import SONNET, DemoAgent

__all__: list[str] = []


def main() -> int:
    agent = DemoAgent(cached_prefix=7200)
    agent.status("reading the billing client")
    agent.pause()
    agent.tool("Read", file_path="src/billing/client.py")
    agent.pause()
    agent.turn(SONNET, 2400, 310)
    agent.pause()
    agent.tool("Bash", command="grep -rn 'requests.post\\|raise_for_status' src/billing")
    agent.pause()
    agent.turn(SONNET, 900, 180)
    agent.status("checking which errors the gateway returns")
    agent.pause()
    agent.tool("Read", file_path="src/billing/errors.py")
    agent.pause()
    agent.tool("Read", file_path="docs/adr/0007-idempotency-keys.md")
    agent.pause()
    agent.turn(SONNET, 3100, 420)
    agent.status("drafting the retry policy")
    agent.pause()
    agent.turn(SONNET, 600, 1350)
    agent.pause()
    agent.tool("Write", file_path="docs/design/billing-retry.md")
    agent.pause()
    agent.turn(SONNET, 500, 640)
    agent.status("handing off to the implementer")
    agent.pause()
    agent.handoff(
        changed=(
            "Designed the retry policy for BillingClient (docs/design/billing-retry.md): retry "
            "429, 502, 503, 504 and connection resets, never any other 4xx; exponential backoff "
            "0.5 s * 2^n capped at 8 s, at most 5 attempts; honour Retry-After. Every POST "
            "carries an Idempotency-Key so a retried charge cannot be booked twice."
        ),
        next_needs=(
            "Implement it in src/billing/retry.py (RetryPolicy) and BillingClient._send in "
            "src/billing/client.py without changing the public API. Create the idempotency key "
            "once per charge() call, not once per attempt. Test with the fake clock in "
            "tests/conftest.py so the suite does not sleep."
        ),
        risks=(
            "A retried POST without the key could double-charge a customer. Retry-After may be "
            "an HTTP date, not only seconds. Total retry time must stay under the checkout "
            "service's 30 s request timeout."
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
