"""``/metrics`` during a real run, scraped over HTTP and parsed with prometheus_client's parser.

The figures must be the control room's own: tokens per agent equal what
``audit runs`` adds up from the log, the gate count and age move as a gate
waits and is decided, a kill is counted with its recorded duration, and no
series names an agent that does not exist. A port that cannot be bound is a
one-line error naming ``metrics.listen``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from clikit import ROOT, controlroom
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from swarmkit import Swarm, agent_cmd, sleeper, swarm

from controlroom._errors import ConfigError
from controlroom.config import load_config
from controlroom.models import AgentSpec, Budget, GateRequested, KillCompleted
from controlroom.ops.server import MetricsServer
from controlroom.store.queries import runs


async def scrape(server: MetricsServer) -> list[Sample]:
    async with aiohttp.ClientSession() as session, session.get(server.url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(
        s.labels.get(k) == v for k, v in labels.items()
    )]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@asynccontextmanager
async def served(handle: Swarm) -> AsyncIterator[MetricsServer]:
    server = MetricsServer(handle.sup, "127.0.0.1:0")
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def test_tokens_per_agent_equal_the_audit_logs_run_totals(tmp_path: Path) -> None:
    agents = [
        AgentSpec(name="alpha", command=agent_cmd("well_behaved", "alpha", "0")),
        AgentSpec(name="beta", command=agent_cmd("well_behaved", "beta", "0")),
        AgentSpec(name="later", command=agent_cmd("well_behaved", "later", "0"), after=["alpha"]),
    ]
    async with swarm(tmp_path, agents) as handle, served(handle) as server:
        assert await handle.wait()
        await handle.sup.bus.flush()
        samples = await scrape(server)
        conn = sqlite3.connect(handle.db)
        try:
            (summary,) = runs(conn, handle.run_id)
        finally:
            conn.close()
    assert set(summary.agents) == {"alpha", "beta", "later"}
    for name, agent in summary.agents.items():
        usage = agent.usage
        assert usage.total_tokens > 0
        for kind, field in (("input", usage.input_tokens), ("output", usage.output_tokens)):
            assert value(samples, "controlroom_agent_tokens_total", agent=name, kind=kind) == field
        assert value(samples, "controlroom_agent_cost_usd_total", agent=name) == pytest.approx(
            usage.cost_usd, rel=1e-9
        )
        assert value(samples, "controlroom_agent_state", agent=name, state="done") == 1
    named = {s.labels["agent"] for s in samples if "agent" in s.labels}
    assert named == {"alpha", "beta", "later"}  # no series for an agent that never existed
    assert value(samples, "controlroom_swarm_tokens_total") == summary.usage.total_tokens
    assert value(samples, "controlroom_events_total") >= summary.events - 1  # run_ended is later
    assert value(samples, "controlroom_agents", state="done") == 3


async def test_the_gate_count_and_age_move_as_a_gate_waits_and_is_decided(
    tmp_path: Path,
) -> None:
    agents = [AgentSpec(name="asker", command=agent_cmd("gate_asker"))]
    async with swarm(tmp_path, agents) as handle, served(handle) as server:
        before = await scrape(server)
        gate = await handle.log.until(lambda e: isinstance(e, GateRequested))
        assert isinstance(gate, GateRequested)
        first = await scrape(server)
        assert value(first, "controlroom_gates_pending") == 1
        await asyncio.sleep(0.3)
        second = await scrape(server)
        assert value(second, "controlroom_gates_pending") == 1
        age = value(second, "controlroom_gate_oldest_age_seconds")
        assert age >= value(first, "controlroom_gate_oldest_age_seconds") + 0.25
        await handle.sup.decide_gate(gate.gate_id, True, "tester", "fine")
        after = await scrape(server)
        assert await handle.wait()
    assert value(before, "controlroom_gates_pending") in (0, 1)  # the gate may come first
    assert value(after, "controlroom_gates_pending") == 0
    assert value(after, "controlroom_gate_oldest_age_seconds") == 0


async def test_a_kill_is_counted_with_its_recorded_duration(tmp_path: Path) -> None:
    budget = Budget(max_wall_seconds=600)
    async with (
        swarm(tmp_path, [sleeper("sleepy", budget=budget)], sample_seconds=0.05, max_cost_usd=5.0)
        as handle,
        served(handle) as server,
    ):
        await handle.state("sleepy", {"running"})
        meter = handle.sup.governor.meters.agent("sleepy")
        # the first sample may come just after the exec, before Python has loaded
        # (256 KiB charged to its cgroup): wait for one of the agent up and running
        await asyncio.wait_for(until(lambda: (meter.rss_bytes or 0) > 1 << 20), 30)
        before = await scrape(server)
        await handle.sup.kill("sleepy", by="tester")
        after = await scrape(server)
        completed = handle.log.of("kill_completed", "sleepy")
    killed = [s for s in before if s.name.startswith("controlroom_agent_kill_duration")]
    assert killed == []  # never killed: no series
    assert value(after, "controlroom_agent_kill_duration_seconds_count", agent="sleepy") == 1
    assert isinstance(completed[0], KillCompleted)
    recorded = completed[0].duration_ms / 1000
    measured = value(after, "controlroom_agent_kill_duration_seconds_sum", agent="sleepy")
    assert measured == pytest.approx(recorded, abs=1e-5)
    assert value(after, "controlroom_agent_state", agent="sleepy", state="killed") == 1
    assert value(before, "controlroom_agent_resident_memory_bytes", agent="sleepy") > 1 << 20
    assert value(before, "controlroom_agent_cpu_ratio", agent="sleepy") >= 0
    resident = [s for s in after if s.name == "controlroom_agent_resident_memory_bytes"]
    assert resident == []  # a dead tree has no memory to show
    assert_dashboard_queries_what_is_served({s.name for s in before + after})


def assert_dashboard_queries_what_is_served(served: set[str]) -> None:
    """contrib/grafana-dashboard.json asks only for series a run serves (no typo goes blank)."""
    dashboard = json.loads((ROOT / "contrib" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"controlroom_[a-z_]+", expr)}
    assert len(asked) >= 15
    assert asked - served == set()


async def test_a_port_in_use_is_an_error_naming_metrics_listen(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with swarm(tmp_path, []) as handle:
            server = MetricsServer(handle.sup, f"127.0.0.1:{port}")
            with pytest.raises(ConfigError) as caught:
                await server.start()
    message = str(caught.value)
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}: address already in use" in message


def test_run_with_metrics_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            """
            [swarm]
            name = "m"

            [metrics]
            listen = "127.0.0.1:1"

            [[agents]]
            name = "a"
            command = ["true"]
            """
        )
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = controlroom(
            "run", "--headless", "--metrics", f"127.0.0.1:{port}", str(config), cwd=tmp_path
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}: address already in use" in (
        done.stderr
    )
    bad = controlroom("run", "--headless", "--metrics", "9464", str(config), cwd=tmp_path)
    assert bad.returncode == 1
    assert "--metrics: must be HOST:PORT" in bad.stderr


def test_metrics_and_notify_tables_are_checked_with_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [swarm]
            name = "m"

            [metrics]
            listen = "9464"
            port = 1

            [[notify]]
            events = ["gate_waiting", "teleport"]
            channel = "webhook"

            [[notify]]
            events = ["crash"]
            channel = "webhook"
            url = "ftp://example.com/x"

            [[notify]]
            events = ["crash"]
            channel = "command"
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    lines = str(caught.value).splitlines()
    assert lines == [
        f'{config}:5: metrics.listen: must be HOST:PORT, e.g. "127.0.0.1:9464" (got \'9464\')',
        f"{config}:6: metrics.port: unknown key; expected one of: listen",
        f"{config}:9: notify[0].events[1]: must be one of 'gate_waiting', 'budget_warning', "
        "'budget_stop', 'breaker_open', 'crash', 'orphan_found', 'collision', "
        "'swarm_finished' (got 'teleport')",
        f'{config}:15: notify[1].url: channel = "webhook" needs an http:// or https:// url '
        "(got 'ftp://example.com/x')",
        f'{config}:17: notify[2].command: channel = "command" needs a command (an argv array)',
    ]
