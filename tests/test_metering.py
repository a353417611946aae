"""Wire metering under a real supervisor: the proxy started with the run, every agent's model
traffic metered into the governor, and what agents say about themselves kept and compared.

Agents are real processes (the built-in worker, or a small hostile script on
the anthropic SDK); the model is the simulator, whose ledger is the truth.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from proxykit import KINDS, OPERATOR_KEY, per_kind
from swarmkit import audit_rows, inline_cmd, swarm

from controlroom.control.api import ControlAPI
from controlroom.models import AgentSpec, AgentState, Budget, ProxySettings
from controlroom.sim import Script, SimServer, Turn

pytestmark = pytest.mark.timeout(120)

HANDOFF = {"changed": "wrote the plan", "next_needs": "implement it", "risks": "none known"}
WORKER = [sys.executable, "-m", "controlroom", "agent", "--backoff", "0.01", "{task}"]

UNDER_REPORTER = """
import json, os, anthropic
client = anthropic.Anthropic(base_url=os.environ["CONTROLROOM_MODEL_URL"],
                             api_key=os.environ["CONTROLROOM_MODEL_KEY"], max_retries=0)
answer = client.messages.create(model="claude-sonnet-4-5", max_tokens=300,
                                messages=[{"role": "user", "content": "hello " * 200}])
print(json.dumps({"type": "usage", "input_tokens": answer.usage.input_tokens // 10,
                  "output_tokens": 1, "model": "claude-sonnet-4-5"}), flush=True)
"""


def environ(tmp_path: Path) -> dict[str, str]:
    import os

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ANTHROPIC_API_KEY": OPERATOR_KEY,
    }


async def test_the_built_in_worker_is_metered_at_the_wire(tmp_path: Path) -> None:
    script = Script([Turn.say("Reading the code."), Turn.call("handoff", HANDOFF)])
    worker = AgentSpec(name="planner", command=WORKER, task="plan it", role="You are the planner.")
    with SimServer(script, api_key=OPERATOR_KEY) as sim:
        async with swarm(
            tmp_path, [worker], environ=environ(tmp_path), proxy=ProxySettings(upstream=sim.url)
        ) as s:
            assert await s.wait(60) is True
            meter = s.sup.governor.meters.agent("planner")
            metered = {kind: getattr(meter, kind) for kind in KINDS}
            reported = {kind: getattr(meter.reported, kind) for kind in KINDS}
            view = ControlAPI(s.sup).snapshot()
            agent, proxy = view.agents[0], view.proxy
            revoked = s.sup.metering.proxy.passes.current("planner") is None
    served = per_kind(sim.ledger())
    assert served["cache_read_input_tokens"] > 0 and served["output_tokens"] > 0
    assert metered == served  # the budget's figures: the wire's
    assert reported == served  # the worker's own live report, kept beside them, agrees
    assert meter.wire and meter.turns == 2 and not meter.meter_disagreement
    assert agent.meter is not None and proxy is not None
    assert agent.meter.metered_at == "wire" and agent.meter.meter_disagreement is False
    assert proxy.credentials == "swap" and proxy.upstream == sim.url
    assert revoked  # its run ended: its pass no longer works
    rows = audit_rows(s.db, s.run_id)
    kinds = [r["kind"] for r in rows]
    assert kinds.index("proxy_started") < kinds.index("agent_spawned")
    usage = [r for r in rows if r["kind"] == "usage"]
    assert {r["source"] for r in usage} == {"proxy", "agent"}
    for kind in KINDS:
        assert sum(r[kind] for r in usage if r["source"] == "proxy") == served[kind]
    assert sim.served[0].request["system"][0]["text"].startswith("You are the planner.")
    assert s.sup.runners["planner"].handoff is not None


async def test_an_agent_that_under_reports_is_metered_at_the_wire_and_flagged(
    tmp_path: Path,
) -> None:
    liar = AgentSpec(name="liar", command=inline_cmd(UNDER_REPORTER))
    with SimServer(Script([Turn.say("hi " * 100)]), api_key=OPERATOR_KEY) as sim:
        async with swarm(
            tmp_path, [liar], environ=environ(tmp_path), proxy=ProxySettings(upstream=sim.url)
        ) as s:
            assert await s.wait(60) is True
            flag = await s.log.until(lambda e: getattr(e, "kind", "") == "meter_disagreement")
            meter = ControlAPI(s.sup).snapshot().agents[0].meter
    served = sim.ledger()
    assert meter is not None and meter.total_tokens == served.total_tokens  # counts the wire
    assert meter.self_reported_tokens == served.input_tokens // 10 + 1
    assert meter.meter_disagreement is True
    assert flag.wire_tokens == served.total_tokens and flag.fraction > 0.05
    (row,) = audit_rows(s.db, s.run_id, "meter_disagreement")
    assert row["reported_tokens"] == served.input_tokens // 10 + 1


async def test_a_budget_below_the_first_requests_input_stops_the_agent_before_the_model(
    tmp_path: Path,
) -> None:
    worker = AgentSpec(
        name="tiny", command=WORKER, task="do a big thing", budget=Budget(max_tokens=50)
    )
    with SimServer(Script([Turn.call("handoff", HANDOFF)]), api_key=OPERATOR_KEY) as sim:
        async with swarm(
            tmp_path, [worker], environ=environ(tmp_path), proxy=ProxySettings(upstream=sim.url)
        ) as s:
            await s.wait(60)
            state = s.sup.runners["tiny"].state
    assert state == AgentState.BUDGET_STOPPED
    assert sim.requests == 0  # not one request reached the model
    (refused,) = audit_rows(s.db, s.run_id, "request_refused")
    (stop,) = audit_rows(s.db, s.run_id, "budget_exceeded")
    assert refused["limit"] == stop["limit"] == "max_tokens" and refused["status"] == 402
    assert stop["cap"] == 50 and stop["value"] > 50


PRINT_ENV_HASHES = """
import hashlib, json, os
print(json.dumps({"type": "status", "text": "env", "hashes": {
    k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}}), flush=True)
"""


async def test_no_agent_is_given_the_operators_key(tmp_path: Path) -> None:
    wants_key = AgentSpec(
        name="nosy",
        command=inline_cmd(PRINT_ENV_HASHES),
        env=["ANTHROPIC_API_KEY"],
        secret_env=["ANTHROPIC_API_KEY"],
    )
    claude_like = AgentSpec(name="cc", command=inline_cmd(PRINT_ENV_HASHES), format="claude-code")
    with SimServer(Script([Turn.say("ok")]), api_key=OPERATOR_KEY) as sim:
        async with swarm(
            tmp_path,
            [wants_key, claude_like],
            environ=environ(tmp_path),
            proxy=ProxySettings(upstream=sim.url),
        ) as s:
            await s.wait(30)
            outputs = {
                e.agent: json.loads(e.text)
                for e in s.log.of("agent_output")
                if e.text.startswith('{"type": "status"')
            }
            nosy = (await s.log.status("nosy", "env")).extra["hashes"]
    operator = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()
    assert "ANTHROPIC_API_KEY" in nosy and operator not in nosy.values()
    assert "CONTROLROOM_MODEL_KEY" in nosy
    assert nosy["ANTHROPIC_API_KEY"] == nosy["CONTROLROOM_MODEL_KEY"]  # its own key instead
    cc = outputs["cc"]["hashes"]
    assert operator not in cc.values() and cc["ANTHROPIC_API_KEY"] == cc["CONTROLROOM_MODEL_KEY"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert OPERATOR_KEY.encode() not in path.read_bytes(), path


def test_swap_mode_without_the_operators_key_does_not_start(tmp_path: Path) -> None:
    from clikit import controlroom

    config = tmp_path / "swarm.toml"
    config.write_text(
        '[proxy]\ncredentials = "swap"\nupstream_key_env = "CR_TEST_NO_SUCH_KEY"\n\n'
        '[[agents]]\nname = "a"\ncommand = ["true"]\n'
    )
    done = controlroom("run", str(config), "--headless", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        'proxy.credentials: "swap" needs the operator\'s key in $CR_TEST_NO_SUCH_KEY, '
        "which is not set"
    )
    assert not (tmp_path / "controlroom.db").exists() or "agent_spawned" not in str(
        (tmp_path / "controlroom.db").read_bytes()
    )
