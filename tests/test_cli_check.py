"""``controlroom check`` as an operator runs it: a real subprocess, exit codes and output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.toml"

BROKEN = """\
[swarm]
nme = "x"

[[agents]]
name = "a"
command = ["echo"]
budget = { max_tokens = -5 }

[[agents]]
name = "b"
command = []
format = "json"
after = ["nobody"]
"""
BROKEN_PROBLEMS = [
    "config.toml:2: swarm.nme: unknown key; did you mean 'name'?",
    "config.toml:7: agents[0].budget.max_tokens: must be greater than 0 (got -5)",
    "config.toml:11: agents[1].command: must not be empty",
    "config.toml:12: agents[1].format: must be one of 'native', 'claude-code', 'plain'"
    " (got 'json')",
    "config.toml:13: agents[1].after[0]: unknown agent 'nobody'",
]


def controlroom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "controlroom", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def example_dir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / "config.toml")
    return tmp_path


def test_valid_config_prints_summary_and_exits_0(example_dir: Path) -> None:
    done = controlroom("check", "config.toml", cwd=example_dir)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0] == "config.toml: ok"
    assert lines[1].split() == ["swarm", "feature-x"]
    assert lines[2].split() == ["audit", "db", str(example_dir / "controlroom.db")]
    assert lines[3].split() == ["run", "dir", str(example_dir / ".controlroom")]
    assert lines[4] == "cost cap     $25.00 for the whole swarm"
    assert lines[5] == "upstream     https://api.anthropic.com (through the metering proxy)"
    assert lines[6] == (  # no $ANTHROPIC_API_KEY here: each agent pays with its own
        "credentials  passthrough: agents use their own credentials (cost is an estimate)"
    )
    at = lines.index("agents (3)")
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[at + 1 : at + 5]]
    assert rows[0] == [
        "name", "format", "workspace", "gate", "tokens", "cost", "wall", "turns", "gated tools",
        "limits",
    ]  # fmt: skip
    assert rows[1] == [
        "architect", "claude-code", "worktree", "auto", "200,000", "$5.00", "30m", "50",
        "Bash, Write, Edit", "-",
    ]  # fmt: skip
    assert rows[2][:8] == [
        "implementer", "claude-code", "worktree", "human", "400,000", "$5.00", "30m", "50"
    ]  # fmt: skip
    assert rows[3][:8] == [
        "reviewer", "claude-code", "shared", "human", "200,000", "$1.00", "30m", "10"
    ]  # fmt: skip
    at = lines.index("pipeline (3 stages)")
    assert lines[at : at + 5] == [
        "pipeline (3 stages)",
        "  1. architect",
        "  2. implementer",
        "  3. reviewer",
        "",
    ]
    assert lines[at + 5].startswith("containment: ")


def test_without_argument_it_checks_config_toml_here(example_dir: Path) -> None:
    done = controlroom("check", cwd=example_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config.toml: ok\n")


def test_invalid_config_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(BROKEN)
    done = controlroom("check", "config.toml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "controlroom: " + BROKEN_PROBLEMS[0]
    assert lines[1:] == BROKEN_PROBLEMS[1:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[swarm\n",
            "controlroom: config.toml:1: swarm: TOML syntax error:"
            " expected ']' at the end of a table declaration (column 7)",
        ),
        (
            '[[agents]]\nname = "a"\ncommand = ["x"\n',
            "controlroom: config.toml:3: agents[0].command: TOML syntax error:"
            " unclosed array (at the end of the file)",
        ),
        ("\xff", "controlroom: config.toml:1: TOML syntax error: invalid statement (column 1)"),
    ],
)
def test_toml_syntax_error_exits_1_with_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    done = controlroom("check", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", expected + "\n")


def test_missing_config_exits_1(tmp_path: Path) -> None:
    done = controlroom("check", "swarm.toml", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "controlroom: swarm.toml: no such config file\n"


def test_jsonl_output_for_scripts(example_dir: Path) -> None:
    done = controlroom("check", "--format", "jsonl", cwd=example_dir)
    assert (done.returncode, done.stderr) == (0, "")
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["ok"] is True and record["swarm"] == "feature-x"
    assert record["stages"] == [["architect"], ["implementer"], ["reviewer"]]
    assert record["agents"][1]["budget"]["max_tokens"] == 400_000
    assert record["agents"][1]["after"] == ["architect"]

    (example_dir / "config.toml").write_text(BROKEN)
    done = controlroom("check", "--format", "jsonl", cwd=example_dir)
    assert (done.returncode, done.stderr) == (1, "")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [f"{r['file']}:{r['line']}: {r['key']}: {r['message']}" for r in records] == (
        BROKEN_PROBLEMS
    )
    assert all(r["ok"] is False for r in records)


def test_check_never_imports_textual(example_dir: Path) -> None:
    code = (
        "import argparse, sys\n"
        "from controlroom.cli.check import run_check\n"
        "assert run_check(argparse.Namespace(config='config.toml', format='jsonl')) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=example_dir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- containment

LIMITED = """\
[swarm]
name = "limited"
containment = "{containment}"

[defaults.limits]
memory_max = "512M"

[[agents]]
name = "a"
command = ["true"]
limits = {{ pids_max = 64, cpu_max = 1.5 }}
"""


def test_check_says_how_agents_are_contained_and_limited(tmp_path: Path) -> None:
    from controlroom.process.cgroupfs import layout

    (tmp_path / "config.toml").write_text(LIMITED.format(containment="auto"))
    done = controlroom("check", cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert (done.returncode, done.stderr) == (0, "")
    assert lines[lines.index("agents (1)") + 2].endswith(
        "  memory 512M, processes 64, CPU 1.5 cores"
    )
    line = lines[lines.index("  1. a") + 2]
    if line.startswith("containment: process tree"):  # a machine without a writable cgroup
        assert line.startswith("containment: process tree (no writable cgroup: ")
        assert lines[-3:] == [f"  a: {n}: {line[32:-1]} (not enforced)" for n in (
            "memory_max", "pids_max", "cpu_max")]  # fmt: skip
    else:
        assert line.startswith(f"containment: cgroup v2 at {layout().v2_base}/controlroom-<run>")
    assert not [p for p in Path(layout().v2_base or "/nonexistent").glob("controlroom-check-*")]

    done = controlroom("check", "--format", "jsonl", cwd=tmp_path)
    (record,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert record["agents"][0]["limits"] == {
        "memory_max": 512 << 20, "pids_max": 64, "cpu_max": 1.5
    }  # fmt: skip
    assert record["containment"]["mode"] in ("cgroup", "process-tree")

    (tmp_path / "config.toml").write_text(LIMITED.format(containment="process-tree"))
    done = controlroom("check", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines()[-4:] == [
        'containment: process tree (containment = "process-tree" in the config)',
        '  a: memory_max: containment = "process-tree" in the config (not enforced)',
        '  a: pids_max: containment = "process-tree" in the config (not enforced)',
        '  a: cpu_max: containment = "process-tree" in the config (not enforced)',
    ]


def test_limits_and_containment_errors_name_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[swarm]\ncontainment = "jail"\n\n[defaults.limits]\nmemory_max = "lots"\n\n'
        '[[agents]]\nname = "a"\ncommand = ["true"]\nlimits = { pids_max = 0, cpu = 2 }\n'
    )
    done = controlroom("check", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "controlroom: config.toml:2: swarm.containment: must be one of 'auto', 'cgroup',"
        " 'process-tree' (got 'jail')",
        "config.toml:5: defaults.limits.memory_max: must be a size: bytes, or a number with"
        " K, M, G or T (got 'lots')",
        "config.toml:10: agents[0].limits.pids_max: must be greater than 0 (got 0)",
        "config.toml:10: agents[0].limits.cpu: unknown key; did you mean 'cpu_max'?",
    ]
