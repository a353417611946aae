"""A swarm under flood: the quiet agent's stop does not queue behind the loud ones.

Real supervisor, real agents (tests/agents/flood.py writes native usage
lines as fast as its pipe takes them), real audit file. What is asserted is
order: how many of the floods' lines the supervisor took in between two
things, never how long that took.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

from swarmkit import agent_cmd, audit_rows, inline_cmd, swarm

from controlroom.models import (
    AgentSpec,
    AgentState,
    Budget,
    BudgetExceeded,
    EventBase,
    SwarmConfig,
    SwarmSettings,
    Usage,
    new_run_id,
)
from controlroom.store.writer import AuditStore
from controlroom.swarm.reader import MIN_SLICE, ROUND_BYTES
from controlroom.swarm.supervisor import Supervisor

FLOODS = 20
SHORTEST_FLOOD_LINE = len('{"type": "usage", "input_tokens": 1000, "output_tokens": 100}\n')
SILENT = inline_cmd("import time; time.sleep(60)")


def flood_specs(tmp_path: Path, count: int) -> list[AgentSpec]:
    return [
        AgentSpec(
            name=f"flood-{i:02d}",
            command=agent_cmd(
                "flood", str(tmp_path / f"flood-{i:02d}.json"), str(tmp_path / "stop")
            ),
        )
        for i in range(count)
    ]


def written_by(tmp_path: Path, agent: str) -> dict[str, int]:
    data: dict[str, int] = json.loads((tmp_path / f"{agent}.json").read_text())
    return data


def logged_usage(db: Path, run_id: str) -> dict[str, tuple[int, int, int]]:
    """Per agent: usage rows, input tokens, output tokens, as stored."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT agent, count(*), sum(json_extract(payload, '$.input_tokens')),"
            " sum(json_extract(payload, '$.output_tokens'))"
            " FROM events WHERE run = ? AND kind = 'usage' GROUP BY agent",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()
    return {agent: (n, i, o) for agent, n, i, o in rows}


def check_floods_add_up(sup: Supervisor, db: Path, run_id: str, tmp_path: Path, names: list[str]):
    """Every line each flood wrote is in the log, and its meter is the flood's own sum."""
    logged = logged_usage(db, run_id)
    for name in names:
        wrote = written_by(tmp_path, name)
        # a flood spawned late may find the stop file there already: it wrote, and logged, nothing
        got = logged.get(name, (0, 0, 0))
        assert got == (wrote["lines"], wrote["input_tokens"], wrote["output_tokens"])
        meter = sup.governor.meters.agent(name)
        assert (meter.input_tokens, meter.output_tokens, meter.turns) == (
            wrote["input_tokens"],
            wrote["output_tokens"],
            wrote["lines"],
        )


async def test_a_quiet_agents_budget_stop_goes_ahead_of_twenty_floods(tmp_path: Path) -> None:
    """The crossing line is written mid-round; the stop comes within two rounds of floods.

    The quiet agent sleeps; the test writes its usage line into the agent's
    own stdout pipe (through /proc, as the agent would), from inside the
    supervisor's handling of a flood's line: an exact point in the reading.
    With a reader task per pipe, 20 floods were taken in by 16 KiB chunks
    each before the quiet line's turn came (thousands of lines).
    """
    quiet = AgentSpec(name="quiet", command=SILENT, budget=Budget(max_tokens=5_000))
    floods = flood_specs(tmp_path, FLOODS)
    names = [f.name for f in floods]
    async with swarm(tmp_path, [quiet, *floods]) as s:
        spawned = await s.log.until(lambda e: e.kind == "agent_spawned" and e.agent == "quiet")
        quiet_stdout = os.open(f"/proc/{spawned.pid}/fd/1", os.O_WRONLY | os.O_NONBLOCK)
        flood_lines = 0
        written_at: int | None = None
        decided_at: int | None = None

        def listener(event: EventBase) -> None:
            nonlocal flood_lines, written_at, decided_at
            if isinstance(event, Usage) and event.agent != "quiet":
                flood_lines += 1
                if written_at is None and flood_lines >= 3_000:
                    line = {"type": "usage", "input_tokens": 6_000, "output_tokens": 10}
                    os.write(quiet_stdout, (json.dumps(line) + "\n").encode())
                    os.close(quiet_stdout)  # or its end of output would wait for us
                    written_at = flood_lines
            elif isinstance(event, BudgetExceeded) and event.agent == "quiet":
                decided_at = flood_lines

        s.sup.bus.listen(listener)
        try:
            await s.state("quiet", [AgentState.BUDGET_STOPPED], timeout=60)
            (tmp_path / "stop").touch()  # the floods were flooding all along: now they stop
            assert await s.wait(60) is False  # the quiet one was stopped
        finally:
            if written_at is None:
                os.close(quiet_stdout)
            (tmp_path / "stop").touch()
        assert written_at is not None and decided_at is not None
        round_lines = max(ROUND_BYTES, FLOODS * MIN_SLICE) // SHORTEST_FLOOD_LINE + FLOODS
        assert decided_at - written_at <= 2 * round_lines
        assert all(s.sup.runners[n].state == AgentState.DONE for n in names)

    rows = audit_rows(s.db, s.run_id)
    quiet_kinds = [r["kind"] for r in rows if r["agent"] == "quiet" and r["kind"] != "agent_state"]
    after = quiet_kinds[quiet_kinds.index("usage") :]
    assert after[:3] == ["usage", "budget_exceeded", "kill_requested"]
    assert sorted(after[3:]) == ["agent_exited", "kill_completed"]
    killed = next(i for i, r in enumerate(rows) if r["kind"] == "kill_completed")
    assert any(r["kind"] == "usage" and r["agent"] in names for r in rows[killed:])
    exceeded = next(r for r in rows if r["kind"] == "budget_exceeded")
    assert (exceeded["value"], exceeded["after_decision_lines"]) == (6_010, 0)
    check_floods_add_up(s.sup, s.db, s.run_id, tmp_path, names)


async def test_under_back_pressure_the_flood_is_slowed_and_the_quiet_agent_is_not(
    tmp_path: Path,
) -> None:
    """The writer commits every 0.5 s: the flood is held at its pipe, the paced agent never.

    Order, not time: every line of the paced agent arrives while the flood
    is being held back, and the backlog stays within a slice and a pipe of
    the mark. Nothing is lost: the log and the meters hold every line.
    """
    high_water = 2_000
    flood = flood_specs(tmp_path, 1)[0]
    paced = AgentSpec(
        name="paced",
        command=[
            *inline_cmd(
                "import json, os, sys, time\n"
                "while not os.path.exists(sys.argv[1]):\n"
                "    print(json.dumps({'type': 'usage', 'input_tokens': 7}), flush=True)\n"
                "    time.sleep(0.01)\n"
            ),
            str(tmp_path / "stop"),
        ],
    )
    config = SwarmConfig(
        swarm=SwarmSettings(
            name="pressure", audit_db=str(tmp_path / "audit.db"), run_dir=str(tmp_path / "run")
        ),
        agents=[flood, paced],
    )
    run_id = new_run_id()
    store = await AuditStore.open(
        config.swarm.audit_db, run_id, max_delay=0.5, batch_events=10**9, high_water=high_water
    )
    sup = Supervisor(config, store, run_id=run_id, base_dir=tmp_path)
    paced_while_held = paced_lines = flood_lines = backlog = 0
    held_paced = False

    def listener(event: EventBase) -> None:
        nonlocal paced_while_held, paced_lines, flood_lines, backlog, held_paced
        backlog = max(backlog, store.pending)
        held = sup.reader.held
        held_paced = held_paced or any(label.startswith("paced") for label in held)
        if isinstance(event, Usage) and event.agent == "paced":
            paced_lines += 1
            if "flood-00 stdout" in held:
                paced_while_held += 1
        elif isinstance(event, Usage):
            flood_lines += 1
        if paced_while_held >= 30 and flood_lines > 3 * high_water:
            (tmp_path / "stop").touch()

    sup.bus.listen(listener)
    try:
        await sup.start()
        assert await asyncio.wait_for(sup.wait(), 60)
    finally:
        (tmp_path / "stop").touch()
        if not all(r.is_final for r in sup.runners.values()):
            await sup.stop_all(by="test cleanup", grace=0)
        await sup.close()
        await store.close()
    assert paced_while_held >= 30 and not held_paced
    wrote = written_by(tmp_path, flood.name)
    assert wrote["lines"] > 3 * high_water  # it did flood, and was let through in steps
    # past the mark: one slice (64 KiB at most) and, once it exited, its pipe (64 KiB)
    assert backlog <= high_water + (64 + 64) * 1024 // SHORTEST_FLOOD_LINE
    logged = logged_usage(Path(config.swarm.audit_db), run_id)
    assert logged["paced"] == (paced_lines, 7 * paced_lines, 0)
    check_floods_add_up(sup, Path(config.swarm.audit_db), run_id, tmp_path, [flood.name])
