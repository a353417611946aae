"""Demo stage 2: implements the architect's design; on a retry, addresses the rejection."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import SONNET, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import SONNET, DemoAgent

__all__: list[str] = []


def first_attempt(agent: DemoAgent) -> None:
    agent.status("implementing RetryPolicy")
    agent.pause()
    agent.tool("Read", file_path="src/billing/client.py")
    agent.pause()
    agent.turn(SONNET, 2600, 380)
    agent.pause()
    agent.tool("Write", file_path="src/billing/retry.py")
    agent.pause()
    agent.turn(SONNET, 700, 1600)
    agent.status("wiring the policy into BillingClient._send")
    agent.pause()
    agent.tool(
        "Edit",
        file_path="src/billing/client.py",
        old_string="response = self._session.post(url, json=body, timeout=10)",
        new_string="response = self._policy.call(self._post, url, body, key=idempotency_key)",
    )
    agent.pause()
    agent.turn(SONNET, 1100, 520)
    agent.pause()
    agent.tool("Bash", command="pytest -q tests/billing")
    agent.pause()
    agent.status("tests: 23 passed in 0.41s")
    agent.turn(SONNET, 1500, 260)
    agent.pause()
    agent.handoff(
        changed=(
            "Added src/billing/retry.py: RetryPolicy(max_attempts=5, base=0.5, cap=8.0) retries "
            "429/502/503/504 and ConnectionError, honours Retry-After (seconds or HTTP date). "
            "BillingClient._send uses it; charge() creates one Idempotency-Key per call. "
            "23 tests pass."
        ),
        next_needs=(
            "Review src/billing/retry.py and the _send change in src/billing/client.py. The "
            "fake clock is tests/conftest.py::fake_clock; new tests are in "
            "tests/billing/test_retry.py."
        ),
        risks=(
            "Retry-After dates are parsed with email.utils; a malformed header falls back to "
            "the computed backoff. Not load-tested against the sandbox gateway."
        ),
    )


def retry(agent: DemoAgent, reason: str) -> None:
    agent.status(f"addressing review: {reason[:90]}")
    agent.pause()
    agent.tool("Read", file_path="src/billing/retry.py")
    agent.pause()
    agent.turn(SONNET, 1800, 300)
    agent.pause()
    agent.tool(
        "Edit",
        file_path="src/billing/retry.py",
        old_string="delay = min(self.cap, self.base * 2**attempt)",
        new_string="delay = random.uniform(0, min(self.cap, self.base * 2**attempt))",
    )
    agent.pause()
    agent.tool(
        "Edit",
        file_path="src/billing/retry.py",
        old_string="while attempt < self.max_attempts:",
        new_string="while attempt < self.max_attempts and clock() < deadline:",
    )
    agent.pause()
    agent.turn(SONNET, 900, 700)
    agent.tool("Bash", command="pytest -q tests/billing")
    agent.pause()
    agent.status("tests: 25 passed in 0.44s")
    agent.turn(SONNET, 1200, 240)
    agent.pause()
    agent.handoff(
        changed=(
            "Backoff now uses full jitter (uniform 0..min(8 s, 0.5 s * 2^n)) and every call "
            "has a 25 s retry deadline, below checkout's 30 s timeout. Everything else as "
            "before: RetryPolicy in src/billing/retry.py, one Idempotency-Key per charge(). "
            "25 tests pass, two new ones for jitter and the deadline."
        ),
        next_needs=(
            "Review src/billing/retry.py (jitter, deadline) and BillingClient._send. Jitter is "
            "seeded through the fake clock's rng in tests, so test_retry.py is deterministic."
        ),
        risks=(
            "With full jitter a retry may come sooner than before; the gateway's rate limit "
            "(100 req/s per key) still holds. Not load-tested against the sandbox gateway."
        ),
    )


def main() -> int:
    agent = DemoAgent(cached_prefix=8400)
    upstream = agent.upstream()
    source = upstream[0]["agent"] if upstream else "the task"
    agent.status(f"read the handoff from {source}")
    agent.pause()
    reason = agent.rejection()
    if reason:
        retry(agent, reason)
    else:
        first_attempt(agent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
