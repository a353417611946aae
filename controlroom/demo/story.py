"""What the demo's simulated model says to each agent: one script per agent, turn by turn.

The demo's agents are real programs (the built-in worker, and a runaway that
speaks the Messages API itself); only the model is scripted. Each turn is a
line of text (the worker shows it as the agent's status) and a tool call: the
tools an agent would use (``Read``, ``Bash``, ``Edit`` … shown on the
dashboard), then ``request_gate`` or the ``handoff`` that ends the task
(turns.py). The pipeline's scripts are in pipeline_story.py. Token counts
never depend on the speed, so budgets and costs are the same at any pace.
"""

from __future__ import annotations

from controlroom.demo.pipeline_story import (
    ARCHITECT,
    IMPLEMENTER,
    IMPLEMENTER_RETRY,
    RETRY_MARKER,
    REVIEWER,
)
from controlroom.demo.turns import handoff, step
from controlroom.sim import Script, Turn

__all__ = ["IMPLEMENTER_RETRY", "RETRY_MARKER", "SCRIPTS", "runaway_script"]

_SECTIONS = (
    ("Overview", "src/billing/client.py"),
    ("Which errors are retried", "src/billing/errors.py"),
    ("Backoff and jitter", "docs/design/billing-retry.md"),
    ("Idempotency keys", "docs/adr/0007-idempotency-keys.md"),
    ("Retry-After", "src/billing/client.py"),
    ("Troubleshooting", "docs/runbooks/billing.md"),
)

DOCS_WRITER = Script(
    [
        step(
            "outlining docs/billing/retries.md", "Read", 3.0, 400, 1500, file_path="docs/index.md"
        ),
        *(
            step(
                f"writing section: {title}",
                "Edit",
                4.5,
                650,
                1500,
                file_path="docs/billing/retries.md",
                old_string=f"## {title}\n\nTODO",
                new_string=f"## {title}\n\n(from {source})",
            )
            for title, source in _SECTIONS
        ),
        handoff(
            "linking the page from the billing runbook",
            3.0,
            300,
            changed=(
                f"Wrote docs/billing/retries.md: {len(_SECTIONS)} sections (what is retried, "
                "backoff and jitter, idempotency keys, Retry-After, troubleshooting) and linked it "
                "from the billing runbook."
            ),
            next_needs=(
                "Publish with the retry change; the troubleshooting section names the "
                "billing_retry_total metric, which must exist before the page goes live."
            ),
            risks="The numbers (5 attempts, 8 s cap) come from the design; keep them in sync.",
        ),
    ]
)

_TESTS = (
    "test_retries_503_then_succeeds",
    "test_never_retries_400",
    "test_retry_after_in_seconds",
    "test_retry_after_as_http_date",
    "test_gives_up_after_five_attempts",
    "test_idempotency_key_is_reused",
    "test_connection_reset_is_retried",
    "test_deadline_stops_retries",
)
_TEST_FILE = "tests/billing/test_retry.py"

TEST_WRITER = Script(
    [
        step(
            f"setting up {_TEST_FILE} with the fake clock",
            "Read",
            3.0,
            300,
            1300,
            file_path="tests/conftest.py",
        ),
        *(
            step(
                f"writing {name}",
                "Edit",
                5.0,
                700,
                1300,
                file_path=_TEST_FILE,
                old_string="# --- more tests below ---",
                new_string=f"def {name}(fake_clock, gateway):",
            )
            for name in _TESTS
        ),
        handoff(
            f"pytest -q {_TEST_FILE}: {len(_TESTS)} passed",
            3.0,
            360,
            changed=(
                f"Wrote {len(_TESTS)} tests in {_TEST_FILE}: status codes retried and not, "
                "Retry-After in both forms, the attempt limit, the deadline, and that one "
                "Idempotency-Key is reused across attempts. All pass in 0.3 s with the fake clock."
            ),
            next_needs="Run them in CI's billing job; they need no network and no sleeps.",
            risks="The gateway fake answers instantly; real latency is not covered here.",
        ),
    ]
)

# The flaky agent's model answers once, then is overloaded every time: the worker retries
# (bounded, announced), reports the error and exits 1; three such runs open its breaker.
FLAKY = Script(
    [
        step(
            "connecting to staging-ledger:5432",
            "Bash",
            2.0,
            160,
            900,
            command="psql -h staging-ledger -c 'select count(*) from invoices'",
        ),
        Turn.error(529, "overloaded_error", "Overloaded"),
    ]
)

IMAGE = "billing-api:3f9a2c1"

_CANCELLED = handoff(
    "staging deploy cancelled by the operator",
    1.5,
    200,
    changed=f"Built {IMAGE}; smoke tests passed. Not deployed: the operator said no.",
    next_needs=f"Deploy {IMAGE} to staging once the operator approves.",
    risks="Staging still runs the previous image.",
)

DEPLOY_BOT = Script(
    [
        step(f"building {IMAGE}", "Bash", 3.0, 240, 1800, command=f"docker build -t {IMAGE} ."),
        step("running the smoke tests", "Bash", 2.5, 180, 700, command="pytest -q tests/smoke"),
        Turn(
            text="smoke tests: 9 passed",
            tool="request_gate",
            input={
                "title": "deploy to staging?",
                "detail": f"{IMAGE} to staging: 3 replicas, rolling update; smoke tests passed",
            },
            output_tokens=120,
            seconds=1.5,
        ),
        Turn(
            text="deploying to staging",
            tool="Bash",
            input={"command": f"kubectl -n staging set image deploy/billing-api api={IMAGE}"},
            output_tokens=200,
            server_input_tokens=900,
            seconds=2.5,
            instead=(("rejected", _CANCELLED),),
        ),
        handoff(
            f"{IMAGE} is live on staging",
            2.0,
            260,
            changed=f"Deployed {IMAGE} to staging: 3 replicas, rolling update, all ready.",
            next_needs="Watch billing_retry_total on staging before promoting to production.",
            risks="Staging's gateway sandbox does not rate-limit like production.",
        ),
    ]
)

_SUITES = ("checkout", "cart", "payments", "invoices", "refunds", "webhooks")


def runaway_script(turns: int = 60) -> Script:
    """Never converges: another suite, another pytest run, for as long as it is let."""
    return Script(
        [
            step(
                f"attempt {i + 1}: shaving time off tests/{suite}",
                "Bash",
                1.2,
                420,
                command=f"pytest -q tests/{suite} --durations=20 -p no:cacheprovider",
            )
            for i, suite in ((i, _SUITES[i % len(_SUITES)]) for i in range(turns))
        ]
    )


SCRIPTS: dict[str, Script] = {
    "architect": ARCHITECT,
    "implementer": IMPLEMENTER,
    "reviewer": REVIEWER,
    "docs-writer": DOCS_WRITER,
    "test-writer": TEST_WRITER,
    "runaway": runaway_script(),
    "flaky": FLAKY,
    "deploy-bot": DEPLOY_BOT,
}
"""Each demo agent's script, by agent name (``simulator.py`` routes requests by their task)."""
