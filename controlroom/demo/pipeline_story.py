"""What the demo's model says to the pipeline: architect → implementer → reviewer.

The implementer has two scripts: its first attempt, and the retry after the
operator rejects its handoff (the pipeline re-runs it with the reason in its
task, after ``RETRY_MARKER``).
"""

from __future__ import annotations

from controlroom.demo.turns import handoff, step
from controlroom.sim import Script

__all__ = ["ARCHITECT", "IMPLEMENTER", "IMPLEMENTER_RETRY", "RETRY_MARKER", "REVIEWER"]

RETRY_MARKER = "Your previous handoff was rejected: "
"""What the pipeline puts in a task it re-runs after a rejection (the implementer's retry)."""

ARCHITECT = Script(
    [
        step(
            "reading the billing client", "Read", 2.5, 310, 2400, file_path="src/billing/client.py"
        ),
        step(
            "finding every POST and where errors are raised",
            "Bash",
            2.0,
            180,
            900,
            command="grep -rn 'requests.post\\|raise_for_status' src/billing",
        ),
        step(
            "checking which errors the gateway returns",
            "Read",
            2.5,
            420,
            3100,
            file_path="docs/adr/0007-idempotency-keys.md",
        ),
        step(
            "drafting the retry policy",
            "Write",
            3.0,
            1350,
            file_path="docs/design/billing-retry.md",
        ),
        handoff(
            "handing off to the implementer",
            2.0,
            640,
            changed=(
                "Designed the retry policy for BillingClient (docs/design/billing-retry.md): retry "
                "429, 502, 503, 504 and connection resets, never any other 4xx; exponential "
                "backoff 0.5 s * 2^n capped at 8 s, at most 5 attempts; honour Retry-After. Every "
                "POST carries an Idempotency-Key so a retried charge cannot be booked twice."
            ),
            next_needs=(
                "Implement it in src/billing/retry.py (RetryPolicy) and BillingClient._send in "
                "src/billing/client.py without changing the public API. Create the idempotency "
                "key once per charge() call, not once per attempt. Test with the fake clock in "
                "tests/conftest.py so the suite does not sleep."
            ),
            risks=(
                "A retried POST without the key could double-charge a customer. Retry-After may "
                "be an HTTP date, not only seconds. Total retry time must stay under the checkout "
                "service's 30 s request timeout."
            ),
        ),
    ]
)

IMPLEMENTER = Script(
    [
        step("implementing RetryPolicy", "Read", 2.5, 380, 2600, file_path="src/billing/client.py"),
        step("writing src/billing/retry.py", "Write", 3.0, 1600, file_path="src/billing/retry.py"),
        step(
            "wiring the policy into BillingClient._send",
            "Edit",
            2.5,
            520,
            1100,
            file_path="src/billing/client.py",
            old_string="response = self._session.post(url, json=body, timeout=10)",
            new_string="response = self._policy.call(self._post, url, body, key=idempotency_key)",
        ),
        step(
            "running the billing tests", "Bash", 2.0, 260, 1500, command="pytest -q tests/billing"
        ),
        handoff(
            "tests: 23 passed in 0.41s",
            2.0,
            480,
            changed=(
                "Added src/billing/retry.py: RetryPolicy(max_attempts=5, base=0.5, cap=8.0) "
                "retries 429/502/503/504 and ConnectionError, honours Retry-After (seconds or HTTP "
                "date). BillingClient._send uses it; charge() creates one Idempotency-Key per "
                "call. 23 tests pass."
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
        ),
    ]
)

IMPLEMENTER_RETRY = Script(
    [
        step(
            "addressing review: full jitter and a deadline below checkout's 30 s",
            "Read",
            2.0,
            300,
            1800,
            file_path="src/billing/retry.py",
        ),
        step(
            "adding full jitter",
            "Edit",
            2.0,
            700,
            900,
            file_path="src/billing/retry.py",
            old_string="delay = min(self.cap, self.base * 2**attempt)",
            new_string="delay = random.uniform(0, min(self.cap, self.base * 2**attempt))",
        ),
        step(
            "stopping retries at a 25 s deadline",
            "Edit",
            2.0,
            340,
            600,
            file_path="src/billing/retry.py",
            old_string="while attempt < self.max_attempts:",
            new_string="while attempt < self.max_attempts and clock() < deadline:",
        ),
        handoff(
            "tests: 25 passed in 0.44s",
            2.0,
            420,
            changed=(
                "Backoff now uses full jitter (uniform 0..min(8 s, 0.5 s * 2^n)) and every call "
                "has a 25 s retry deadline, below checkout's 30 s timeout. Everything else as "
                "before: RetryPolicy in src/billing/retry.py, one Idempotency-Key per charge(). "
                "25 tests pass, two new ones for jitter and the deadline."
            ),
            next_needs=(
                "Review src/billing/retry.py (jitter, deadline) and BillingClient._send. Jitter "
                "is seeded through the fake clock's rng in tests, so test_retry.py is "
                "deterministic."
            ),
            risks=(
                "With full jitter a retry may come sooner than before; the gateway's rate limit "
                "(100 req/s per key) still holds. Not load-tested against the sandbox gateway."
            ),
        ),
    ]
)

REVIEWER = Script(
    [
        step(
            "reviewing the retry change",
            "Bash",
            2.0,
            200,
            1400,
            command="git diff --stat main -- src/billing tests/billing",
        ),
        step("reading RetryPolicy", "Read", 2.5, 450, 2900, file_path="src/billing/retry.py"),
        step(
            "checking that the idempotency key survives every attempt",
            "Read",
            2.5,
            380,
            2200,
            file_path="src/billing/client.py",
        ),
        handoff(
            "tests: 11 passed, 14 deselected",
            2.5,
            520,
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
        ),
    ]
)
