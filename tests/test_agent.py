"""The built-in worker (``controlroom agent``), run as a real process against the simulator.

What it prints is read as the supervisor reads it (the native adapter), so
each test checks the protocol, not the worker's insides: usage lines that
add up to what was served, status lines, one structured handoff, gates
answered on stdin, bounded retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from proxykit import OPERATOR_KEY, metered, per_kind

from controlroom.adapters.native import NativeAdapter
from controlroom.models import Budget, HandoffEvent, Usage
from controlroom.sim import Script, SimServer, Turn

pytestmark = pytest.mark.timeout(90)

HANDOFF = {"changed": "wrote the plan", "next_needs": "implement it", "risks": "none known"}
DONE = Turn.call("handoff", HANDOFF)


def worker_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLROOM_", "ANTHROPIC_"))}
    env.update({"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": OPERATOR_KEY, **extra})
    return env


@contextmanager
def worker(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "agent", "--backoff", "0.01", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def finish(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, Any]]]:
    out, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode in (0, 1), err
    return proc.returncode, lines


def read(lines: list[dict[str, Any]]) -> list[Any]:
    """The lines as the supervisor's native adapter reads them."""
    adapter = NativeAdapter("w")
    return [event for line in lines for event in adapter.feed(json.dumps(line))]


def test_it_streams_reports_usage_live_and_hands_off_through_a_forced_tool_call() -> None:
    script = Script([Turn.say("Reading the billing client.\nThen the errors."), DONE])
    with SimServer(script, api_key=OPERATOR_KEY) as sim:
        env = worker_env(sim.url, CONTROLROOM_ROLE="You are the architect.")
        with worker(env, "--model", "claude-haiku-4-5", "Design the retry policy") as proc:
            code, lines = finish(proc)
    assert code == 0
    events = read(lines)
    usage = [e for e in events if isinstance(e, Usage)]
    assert sum(u.turns for u in usage) == 2 == sim.requests
    for kind in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        assert sum(getattr(u, kind) for u in usage) == getattr(sim.ledger(), kind) > 0
    assert {u.model for u in usage} == {"claude-haiku-4-5"}
    statuses = [line["text"] for line in lines if line["type"] == "status"]
    assert "Reading the billing client." in statuses
    (handoff,) = [e for e in events if isinstance(e, HandoffEvent)]
    assert handoff.handoff.model_dump() == HANDOFF
    first, second = (s.request for s in sim.served)
    assert first["system"][0]["text"].startswith("You are the architect.")
    assert sim.ledger().cache_read_input_tokens > 0  # its prompt prefix is cached
    assert "Design the retry policy" in first["messages"][0]["content"]
    (tool,) = [t for t in first["tools"] if t["name"] == "handoff"]
    assert tool["input_schema"]["required"] == ["changed", "next_needs", "risks"]
    assert tool["input_schema"]["additionalProperties"] is False
    assert second["messages"][-1]["role"] == "user"  # told to go on after a text-only turn


def test_the_last_turn_forces_the_handoff_call() -> None:
    script = Script([Turn.say("thinking"), Turn.say("still thinking"), DONE])
    with (
        SimServer(script, api_key=OPERATOR_KEY) as sim,
        worker(worker_env(sim.url), "--max-turns", "3", "task") as proc,
    ):
        code, lines = finish(proc)
    assert code == 0 and lines[-1]["type"] == "handoff"
    choices = [s.request["tool_choice"] for s in sim.served]
    assert choices == [{"type": "auto"}, {"type": "auto"}, {"type": "tool", "name": "handoff"}]


def test_an_invalid_handoff_is_sent_back_and_the_next_one_counts() -> None:
    bad = Turn.call("handoff", {**HANDOFF, "risks": ""})
    with (
        SimServer(Script([bad, DONE]), api_key=OPERATOR_KEY) as sim,
        worker(worker_env(sim.url), "t") as proc,
    ):
        code, lines = finish(proc)
    assert code == 0 and [line["type"] for line in lines].count("handoff") == 1
    (result,) = sim.served[1].request["messages"][-1]["content"]
    assert result["is_error"] is True and "risks" in result["content"]


@pytest.mark.parametrize("approved", [True, False])
def test_it_asks_for_a_gate_and_the_decision_reaches_the_model(
    tmp_path: Path, approved: bool
) -> None:
    upstream = [{"changed": "built image 3f9a", "next_needs": "deploy it", "risks": "none"}]
    handoffs = tmp_path / "handoffs.json"
    handoffs.write_text(json.dumps(upstream))
    ask = Turn.call("request_gate", {"title": "deploy to staging?", "detail": "3 replicas"})
    with SimServer(Script([ask, DONE]), api_key=OPERATOR_KEY) as sim:
        env = worker_env(sim.url, CONTROLROOM_HANDOFF_FILE=str(handoffs))
        with worker(env, "deploy") as proc:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(upstream) + "\n")  # what the runner writes first
            proc.stdin.flush()
            gate = None
            while gate is None:
                line = json.loads(proc.stdout.readline())
                gate = line if line["type"] == "gate" else None
            assert (gate["title"], gate["detail"]) == ("deploy to staging?", "3 replicas")
            decision = {"type": "gate_decision", "approved": approved, "reason": "by alice"}
            proc.stdin.write(json.dumps(decision) + "\n")
            proc.stdin.flush()
            code, _ = finish(proc)
    assert code == 0
    assert "built image 3f9a" in sim.served[0].request["messages"][0]["content"]
    (result,) = sim.served[1].request["messages"][-1]["content"]
    verdict = "approved" if approved else "rejected"
    assert result["content"] == f"{verdict}: by alice" and result["is_error"] is False


def test_transient_api_errors_are_retried_with_backoff_then_it_goes_on() -> None:
    flaky = Turn.error(529, "overloaded_error", "Overloaded", times=2, then=DONE)
    with (
        SimServer(Script([flaky]), api_key=OPERATOR_KEY) as sim,
        worker(worker_env(sim.url), "--retries", "3", "t") as proc,
    ):
        code, lines = finish(proc)
    assert code == 0 and sim.errors == 2 and sim.requests == 1
    retries = [line["text"] for line in lines if "retry" in line.get("text", "")]
    assert retries == [
        "API error 529 overloaded_error: Overloaded; retry 1 of 3 in 0.01s",
        "API error 529 overloaded_error: Overloaded; retry 2 of 3 in 0.02s",
    ]


def test_it_gives_up_after_a_bounded_number_of_retries_and_says_so() -> None:
    with SimServer(Script([Turn.error(500, "api_error", "boom")]), api_key=OPERATOR_KEY) as sim:
        with worker(worker_env(sim.url), "--retries", "2", "t") as proc:
            code, lines = finish(proc)
    assert code == 1 and sim.errors == 3
    assert lines[-1] == {
        "type": "error",
        "message": "model request failed after 3 attempts: API error 500 api_error: boom",
    }


def test_a_budget_refusal_is_not_retried() -> None:
    refusal = Turn.error(402, "billing_error", "controlroom: no budget left")
    with (
        SimServer(Script([refusal]), api_key=OPERATOR_KEY) as sim,
        worker(worker_env(sim.url), "t") as proc,
    ):
        code, lines = finish(proc)
    assert code == 1 and sim.errors == 1
    assert lines[-1]["message"] == (
        "model request failed: API error 402 billing_error: controlroom: no budget left"
    )


async def test_through_the_proxy_its_own_report_equals_the_wire_meter(tmp_path: Path) -> None:
    import asyncio

    script = Script([Turn.say("Looking."), DONE])
    async with metered(script, {"w": Budget(max_tokens=100_000)}) as m:
        agent_pass = m.passes["w"]
        env = worker_env("", CONTROLROOM_MODEL_URL=m.proxy.url_for(agent_pass))
        env["CONTROLROOM_MODEL_KEY"] = agent_pass.key
        del env["ANTHROPIC_API_KEY"], env["ANTHROPIC_BASE_URL"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlroom", "agent", "task",
            stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0
        lines = [json.loads(line) for line in out.decode().splitlines()]
        reported = [e for e in read(lines) if isinstance(e, Usage)]
        for kind, served in per_kind(m.sim.ledger()).items():
            assert sum(getattr(u, kind) for u in reported) == served == m.metered("w")[kind]
        assert {s.api_key for s in m.sim.served} == {OPERATOR_KEY}
        assert OPERATOR_KEY not in out.decode()
