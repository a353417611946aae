"""``controlroom audit`` as an operator runs it: real subprocesses on real SQLite files.

Every output format is parsed back and checked value by value against the
story built by ``test_queries.build_story`` (two runs, three agents).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_queries import HANDOFF, T0, TOOL, AuditDB, build_story, own_fields

from controlroom.models import AgentOutput, StatusEvent

ROOT = Path(__file__).resolve().parent.parent
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def controlroom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlroom", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def audit(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``controlroom audit VERB --db DB ARGS...``, run from the database's directory."""
    verb, *rest = args
    return controlroom("audit", verb, "--db", str(db), *rest, cwd=db.parent)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_story(tmp_path / "audit.db")


def iso(offset: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + offset)) + ".123Z"


# --------------------------------------------------------------------------- list


def test_list_prints_a_table_by_default(db: Path) -> None:
    lines = ok(audit(db, "list")).splitlines()
    assert lines[0].split() == ["ID", "TIME", "(UTC)", "RUN", "AGENT", "KIND", "WHAT"]
    assert len(lines) == 27
    assert lines[7].split() == [
        "7",
        iso(6),
        "r1",
        "architect",
        "tool_call",
        "tool",
        "Bash",
        '{"command":',
        '"pytest',
        '-q"}',
    ]
    assert lines[1].split()[3:5] == ["-", "run_started"]  # a swarm-level event
    r2 = ok(audit(db, "list", "--run", "r2")).splitlines()
    assert "RUN" not in r2[0].split() and [line.split()[0] for line in r2[1:]] == [
        "23",
        "24",
        "25",
        "26",
    ]


def test_list_jsonl_flattens_each_event(db: Path) -> None:
    records = jsonl(ok(audit(db, "list", "--format", "jsonl")))
    assert [r["id"] for r in records] == list(range(1, 27))
    assert all(ISO_MS.match(r["ts"]) for r in records)
    assert records[6] == {
        "id": 7,
        "ts": "2026-11-25T02:00:06.123Z",
        "run": "r1",
        "seq": 7,
        "agent": "architect",
        "kind": "tool_call",
        **own_fields(TOOL),
    }
    assert records[6]["input"] == {"command": "pytest -q"}
    usage = records[5]
    assert (usage["kind"], usage["input_tokens"], usage["cache_read_input_tokens"]) == (
        "usage",
        1000,
        50,
    )
    assert (usage["cost_usd"], usage["model"], usage["turns"]) == (0.01, "claude-sonnet-4-5", 1)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--agent", "implementer", "--kind", "usage,budget_exceeded"], [15, 16]),
        (["--kind", "usage", "--kind", "tool_call", "--limit", "2"], [15, 25]),
        (["--run", "r1", "--agent", "architect", "--limit", "3"], [12, 19, 20]),
        (["--since", "2026-11-25T02:00:20Z"], [21, 22, 23, 24, 25, 26]),
        (["--until", "2026-11-25T02:00:02Z"], [1, 2]),
        (
            ["--since", "2026-11-25", "--until", "2026-11-25T02:00:04Z", "--agent", "architect"],
            [3, 4],
        ),
        (["--after", "23"], [24, 25, 26]),
        (["--after", "10", "--limit", "2"], [11, 12]),
        (["--limit", "1"], [26]),
        (["--agent", "nobody"], []),
    ],
)
def test_list_filters(db: Path, args: list[str], expected: list[int]) -> None:
    records = jsonl(ok(audit(db, "list", *args, "--format", "jsonl")))
    assert [r["id"] for r in records] == expected


def test_list_since_a_relative_duration(tmp_path: Path) -> None:
    now = time.time()
    store = AuditDB(tmp_path / "recent.db")
    store.add("r", StatusEvent(agent="a", text="two hours ago"), ts=now - 7200)
    store.add("r", StatusEvent(agent="a", text="ten minutes ago"), ts=now - 600)
    path = store.close()
    texts = [
        r["text"] for r in jsonl(ok(audit(path, "list", "--since", "1h", "--format", "jsonl")))
    ]
    assert texts == ["ten minutes ago"]
    texts = [
        r["text"] for r in jsonl(ok(audit(path, "list", "--until", "90m", "--format", "jsonl")))
    ]
    assert texts == ["two hours ago"]
    assert len(jsonl(ok(audit(path, "list", "--since", "3w", "--format", "jsonl")))) == 2


def test_list_csv_has_a_column_per_field(db: Path) -> None:
    rows = list(
        csv.DictReader(io.StringIO(ok(audit(db, "list", "--kind", "usage", "--format", "csv"))))
    )
    assert [r["id"] for r in rows] == ["6", "9", "15", "25"]
    assert rows[0]["ts"] == "2026-11-25T02:00:05.123Z"
    assert (rows[0]["input_tokens"], rows[0]["cache_creation_input_tokens"]) == ("1000", "10")
    assert (rows[2]["agent"], rows[2]["turns"], rows[2]["cost_usd"]) == ("implementer", "3", "0.02")
    assert rows[0]["other"] == ""
    everything = list(csv.DictReader(io.StringIO(ok(audit(db, "list", "--format", "csv")))))
    assert len(everything) == 26
    assert everything[6]["input"] == '{"command":"pytest -q"}'
    assert everything[0]["agent"] == "" and everything[0]["swarm"] == "demo"
    assert everything[10]["handoff"] == json.dumps(
        {"changed": "retry policy", "next_needs": "wire it in", "risks": "none known"},
        sort_keys=True,
        separators=(",", ":"),
    )


def test_unknown_kind_lists_the_valid_ones(db: Path) -> None:
    line = audit(db, "list", "--kind", "usage,nope").stderr.strip().splitlines()[-1]
    assert "argument --kind: unknown event kind 'nope'; valid kinds: " in line
    assert "tool_call" in line and "gate_decided" in line
    assert audit(db, "list", "--kind", "usage,nope").returncode == 2


@pytest.mark.parametrize(("option", "value"), [("--since", "3x"), ("--until", "last tuesday")])
def test_bad_time_names_the_option(db: Path, option: str, value: str) -> None:
    result = audit(db, "list", option, value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"argument {option}: {value!r} is neither a duration" in last


def test_bad_limit_is_a_usage_error(db: Path) -> None:
    result = audit(db, "list", "--limit", "0")
    assert result.returncode == 2 and "argument --limit: expected a positive" in result.stderr


# --------------------------------------------------------------------------- show


def test_show_text_and_json(db: Path) -> None:
    prev_hash, digest = (
        sqlite3.connect(db).execute("SELECT prev_hash, hash FROM events WHERE id = 11").fetchone()
    )
    text = ok(audit(db, "show", "11"))
    lines = text.splitlines()
    assert lines[0].startswith("event 11: handoff (attempt 1): changed: retry policy")
    assert f"  hash       {digest}" in lines and f"  prev_hash  {prev_hash}" in lines
    assert "  agent      architect" in lines and "  seq        11" in lines
    record = json.loads(ok(audit(db, "show", "11", "--format", "json")))
    assert record["handoff"] == {
        "changed": "retry policy",
        "next_needs": "wire it in",
        "risks": "none known",
    }
    assert record == {
        "id": 11,
        "ts": "2026-11-25T02:00:10.123Z",
        "run": "r1",
        "seq": 11,
        "agent": "architect",
        "kind": "handoff",
        **own_fields(HANDOFF),
        "prev_hash": prev_hash,
        "hash": digest,
    }


def test_show_unknown_id(db: Path) -> None:
    assert one_line_error(audit(db, "show", "99")) == f"controlroom: no event 99 in {db}"


# --------------------------------------------------------------------------- timeline


def test_timeline_tells_the_story(db: Path) -> None:
    lines = ok(audit(db, "timeline", "architect", "--run", "r1")).splitlines()
    assert lines[0] == (
        "agent architect · run r1 · 2026-11-25T02:00:02.123Z → 2026-11-25T02:00:19.123Z (17s)"
    )
    assert lines[1] == "  2026-11-25"
    assert [line.split()[1] for line in lines[2:-2]] == [
        f"#{n}" for n in (3, 4, 5, 7, 11, 12, 13, 19, 20)
    ]
    assert lines[3] == "    02:00:03.123  #4      spawned pid 4242 (attempt 1) in /w/a"
    assert lines[8] == "    02:00:12.123  #13     gate g1 approved by alice: looks right"
    assert lines[-2] == (
        "totals: tokens in 1,500 · out 300 · cache read 50 · cache write 10 · $0.0150 · "
        "2 turns · 1 attempts · 1 output lines · 1 malformed"
    )
    assert lines[-1] == "ended: done (exit code 0)"


def test_timeline_jsonl_and_default_run(db: Path) -> None:
    records = jsonl(ok(audit(db, "timeline", "implementer", "--format", "jsonl")))
    *steps, summary = records
    assert [(s["id"], s["kind"]) for s in steps] == [
        (14, "agent_spawned"),
        (16, "budget_exceeded"),
        (17, "kill_completed"),
        (18, "agent_exited"),
    ]
    assert steps[0]["step"] == "spawned pid 5000 (attempt 1) in /w/i"
    assert steps[0]["pid"] == 5000 and ISO_MS.match(steps[0]["ts"])
    assert summary == {
        "kind": "summary",
        "agent": "implementer",
        "run": "r1",
        "started": iso(13),
        "last_event": iso(17),
        "outcome": "budget_stopped",
        "reason": "max_tokens 2300.0 over cap 2000.0",
        "attempts": 1,
        "output_lines": 0,
        "malformed_lines": 0,
        "input_tokens": 2000,
        "output_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": 0.02,
        "turns": 3,
    }
    newest = jsonl(ok(audit(db, "timeline", "architect", "--format", "jsonl")))
    assert newest[-1]["run"] == "r2" and [r["id"] for r in newest[:-1]] == [24, 26]


def test_timeline_of_an_unknown_agent_names_the_known_ones(db: Path) -> None:
    line = one_line_error(audit(db, "timeline", "nobody"))
    assert line == (
        f"controlroom: no events for agent 'nobody' in {db} "
        "(agents: architect, implementer, tester)"
    )


# --------------------------------------------------------------------------- runs


def test_runs_jsonl_totals_per_agent(db: Path) -> None:
    r1, r2 = jsonl(ok(audit(db, "runs", "--format", "jsonl")))
    assert (r1["run"], r1["swarm"], r1["outcome"], r1["events"]) == ("r1", "demo", "failed", 22)
    assert (r1["started"], r1["ended"]) == ("2026-11-25T02:00:00.123Z", iso(21))
    assert r1["agents"]["implementer"] == {
        "input_tokens": 2000,
        "output_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": 0.02,
        "turns": 3,
        "outcome": "budget_stopped",
        "reason": "max_tokens 2300.0 over cap 2000.0",
    }
    arch = r1["agents"]["architect"]
    assert (arch["input_tokens"], arch["output_tokens"], arch["turns"]) == (1500, 300, 2)
    assert (arch["cache_read_input_tokens"], arch["cache_creation_input_tokens"]) == (50, 10)
    assert arch["cost_usd"] == pytest.approx(0.015, abs=1e-12) and arch["outcome"] == "done"
    assert r1["agents"]["tester"]["outcome"] == "blocked"
    assert (r1["input_tokens"], r1["turns"]) == (3500, 5)
    assert (r2["run"], r2["outcome"], r2["ended"], r2["events"]) == (
        "r2",
        "running/unknown",
        None,
        4,
    )
    assert list(r2["agents"]) == ["architect"]


def test_runs_table_and_one_run_per_agent(db: Path) -> None:
    lines = ok(audit(db, "runs")).splitlines()
    assert lines[0].split()[:6] == ["RUN", "SWARM", "STARTED", "DURATION", "OUTCOME", "EVENTS"]
    assert lines[1].split()[:8] == [
        "r1",
        "demo",
        "2026-11-25",
        "02:00:00",
        "21s",
        "failed",
        "22",
        "3500",
    ]
    assert lines[1].endswith("architect:done implementer:budget_stopped tester:blocked")
    assert lines[2].split()[5:7] == ["running/unknown", "4"]
    detail = ok(audit(db, "runs", "--run", "r1")).splitlines()
    assert detail[3].split()[:3] == ["AGENT", "OUTCOME", "IN"]
    assert detail[5].split()[:4] == ["implementer", "budget_stopped", "2000", "300"]
    assert "0.0200" in detail[5].split()
    missing = one_line_error(audit(db, "runs", "--run", "r9"))
    assert missing == f"controlroom: no run 'r9' in {db}"


def test_runs_csv(db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(audit(db, "runs", "--format", "csv")))))
    assert [(r["run"], r["outcome"], r["input_tokens"], r["turns"]) for r in rows] == [
        ("r1", "failed", "3500", "5"),
        ("r2", "running/unknown", "100", "1"),
    ]
    assert rows[1]["agents"] == "architect:running/unknown" and rows[1]["ended"] == ""


# --------------------------------------------------------------------------- verify


def test_verify_intact_then_edited_then_truncated(db: Path) -> None:
    assert ok(audit(db, "verify")) == "ok: 26 events, chain intact\n"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET payload = replace(payload, 'pytest -q', 'true') WHERE id = 7")
    conn.commit()
    edited = audit(db, "verify")
    assert edited.returncode == 1 and "Traceback" not in edited.stderr
    assert edited.stdout.startswith("broken at event 7: ")
    assert "edited" in edited.stdout


def test_verify_a_truncated_tail(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM events WHERE id = 26")
    conn.commit()
    result = audit(db, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("broken at event 26: truncated")


# --------------------------------------------------------------------------- export


def test_export_jsonl_and_csv(db: Path) -> None:
    out = db.parent / "events.jsonl"
    assert ok(audit(db, "export", str(out))) == f"exported 26 events to {out} (jsonl)\n"
    listed = ok(audit(db, "list", "--format", "jsonl"))
    assert out.read_text() == listed
    sheet = db.parent / "usage.csv"
    said = ok(audit(db, "export", str(sheet), "--kind", "usage", "--agent", "architect"))
    assert said == f"exported 3 events to {sheet} (csv)\n"
    rows = list(csv.DictReader(sheet.open()))
    assert [(r["id"], r["run"], r["input_tokens"]) for r in rows] == [
        ("6", "r1", "1000"),
        ("9", "r1", "500"),
        ("25", "r2", "100"),
    ]
    forced = db.parent / "x.csv"
    ok(audit(db, "export", str(forced), "--format", "jsonl", "--limit", "2"))
    assert [r["id"] for r in jsonl(forced.read_text())] == [25, 26]
    assert not list(db.parent.glob(".*.partial"))
    to_stdout = audit(db, "export", "-", "--kind", "run_started")
    assert [r["run"] for r in jsonl(ok(to_stdout))] == ["r1", "r2"]
    assert to_stdout.stderr == "exported 2 events\n"


def test_export_refuses_the_database_itself_and_unwritable_places(db: Path) -> None:
    before = db.read_bytes()
    line = one_line_error(audit(db, "export", str(db)))
    assert line == f"controlroom: refusing to export over the audit database itself: {db}"
    assert db.read_bytes() == before
    nowhere = db.parent / "no" / "such" / "dir" / "out.jsonl"
    line = one_line_error(audit(db, "export", str(nowhere)))
    assert line.startswith(f"controlroom: cannot write {nowhere}: ")


# --------------------------------------------------------------------------- errors


VERBS = [
    ["list"],
    ["show", "1"],
    ["timeline", "architect"],
    ["runs"],
    ["verify"],
    ["export", "out.jsonl"],
]


@pytest.mark.parametrize("verb", VERBS, ids=[v[0] for v in VERBS])
def test_missing_garbage_and_foreign_databases_are_one_line(
    tmp_path: Path, verb: list[str]
) -> None:
    missing = tmp_path / "missing.db"
    line = one_line_error(audit(missing, *verb))
    assert line.startswith("controlroom: ") and str(missing) in line
    assert not missing.exists()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database\n" * 200)
    line = one_line_error(audit(garbage, *verb))
    assert str(garbage) in line and "not" in line

    foreign = tmp_path / "foreign.db"
    other = sqlite3.connect(foreign)
    other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    other.commit()
    other.close()
    line = one_line_error(audit(foreign, *verb))
    assert str(foreign) in line and "not a controlroom audit database" in line
    assert not (tmp_path / "out.jsonl").exists()


# --------------------------------------------------------------------------- finding the db


def test_database_from_config_or_default(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    build_story(project / "data" / "audit.db")
    (project / "config.toml").write_text('[swarm]\nname = "demo"\naudit_db = "data/audit.db"\n')
    assert ok(controlroom("audit", "verify", cwd=project)) == "ok: 26 events, chain intact\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = str(project / "config.toml")
    runs = jsonl(
        ok(controlroom("audit", "runs", "--config", config, "--format", "jsonl", cwd=elsewhere))
    )
    assert [r["run"] for r in runs] == ["r1", "r2"]
    line = one_line_error(controlroom("audit", "runs", cwd=elsewhere))
    assert line == "controlroom: controlroom.db: no such audit database"
    build_story(elsewhere / "controlroom.db")
    assert ok(controlroom("audit", "verify", cwd=elsewhere)) == "ok: 26 events, chain intact\n"


def test_audit_without_a_command_shows_its_help(tmp_path: Path) -> None:
    result = controlroom("audit", cwd=tmp_path)
    assert result.returncode == 2 and "timeline" in result.stdout and "verify" in result.stdout


# --------------------------------------------------------------------------- pipes


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, fmt: str) -> None:
    store = AuditDB(tmp_path / "long.db")
    for n in range(3000):
        store.add("r", AgentOutput(agent="a", text=f"line {n} " + "x" * 80))
    path = store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "audit", "list", "--db", str(path), "--format", fmt],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first
        proc.stdout.close()  # like `| head -1`
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
