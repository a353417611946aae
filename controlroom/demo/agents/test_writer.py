"""Demo worker: writes the retry tests in parallel with the pipeline, then hands off (~50 s)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import SONNET, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import SONNET, DemoAgent

__all__: list[str] = []

DURATION_SECONDS = 50.0
TESTS = (
    "test_retries_503_then_succeeds",
    "test_never_retries_400",
    "test_retry_after_in_seconds",
    "test_retry_after_as_http_date",
    "test_gives_up_after_five_attempts",
    "test_idempotency_key_is_reused",
    "test_connection_reset_is_retried",
    "test_deadline_stops_retries",
)
FILE = "tests/billing/test_retry.py"


def main() -> int:
    agent = DemoAgent(cached_prefix=6400)
    agent.status(f"setting up {FILE} with the fake clock")
    agent.pause()
    agent.tool("Read", file_path="tests/conftest.py")
    agent.pause()
    done = 0
    while agent.elapsed() < DURATION_SECONDS:
        name = TESTS[done % len(TESTS)]
        first_pass = done < len(TESTS)
        agent.status(f"{'writing' if first_pass else 'parametrizing'} {name}")
        agent.pause()
        agent.turn(SONNET, 1300, 700)
        agent.pause()
        agent.tool(
            "Edit",
            file_path=FILE,
            old_string="# --- more tests below ---" if first_pass else f"def {name}(",
            new_string=f"def {name}(fake_clock, gateway):" if first_pass else f"def {name}_{done}(",
        )
        agent.pause()
        agent.tool("Bash", command=f"pytest -q {FILE}::{name}")
        agent.pause()
        agent.status(f"{name}: passed")
        done += 1
    agent.handoff(
        changed=(
            f"Wrote {len(TESTS)} tests in {FILE}: status codes retried and not, Retry-After in "
            "both forms, the attempt limit, the deadline, and that one Idempotency-Key is reused "
            "across attempts. All pass in 0.3 s with the fake clock."
        ),
        next_needs="Run them in CI's billing job; they need no network and no sleeps.",
        risks="The gateway fake answers instantly; real latency is not covered here.",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
