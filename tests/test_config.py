"""config.toml loading: merging, paths, pricing, and errors that name file, line and key."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom._errors import ConfigError
from controlroom.config import (
    TomlKeyLines,
    find_config,
    format_key_path,
    load_config,
    pipeline_stages,
)
from controlroom.models import AgentSpec, SwarmConfig

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.toml"

AGENT_A = """\
[[agents]]
name = "a"
command = ["echo", "hi"]
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path, so problems name the file as the operator typed it: config.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(folder: Path, text: str) -> list[str]:
    (folder / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config("config.toml", environ={})
    return [str(p) for p in info.value.problems]


def load(folder: Path, text: str) -> SwarmConfig:
    (folder / "config.toml").write_text(text)
    return load_config("config.toml", environ={})


# --------------------------------------------------------------------------- the example


def test_example_config_loads_with_defaults_merged() -> None:
    cfg = load_config(EXAMPLE, environ={})
    assert cfg.source == str(EXAMPLE)
    assert cfg.swarm.name == "feature-x"
    assert cfg.swarm.audit_db == str(ROOT / "controlroom.db")
    assert cfg.swarm.run_dir == str(ROOT / ".controlroom")
    assert cfg.swarm.max_cost_usd == 25.0
    assert [a.name for a in cfg.agents] == ["architect", "implementer", "reviewer"]
    architect, implementer, reviewer = cfg.agents
    assert architect.format == "claude-code" and architect.workspace == "worktree"
    assert architect.gate_tools == ["Bash", "Write", "Edit"]
    assert architect.budget.max_tokens == 200_000
    assert implementer.budget.max_tokens == 400_000  # its own key wins...
    assert implementer.budget.max_cost_usd == 5.0  # ...the rest comes from [defaults.budget]
    assert implementer.gate == "human" and implementer.on_reject == "retry"
    assert reviewer.workspace == "shared"
    assert reviewer.breaker.restart == "never" and reviewer.breaker.max_failures == 3
    assert pipeline_stages(cfg) == [["architect"], ["implementer"], ["reviewer"]]


def test_example_comment_shows_the_real_error(in_tmp: Path) -> None:
    """The error quoted at the top of config.toml is exactly what the loader says."""
    text = EXAMPLE.read_text()
    quoted = re.search(r"^#\s+(config\.toml:\d+: .*)$", text, re.MULTILINE)
    assert quoted is not None
    broken = text.replace("budget = { max_tokens = 400_000 }", "budget = { max_tokens = 0 }")
    assert broken != text
    assert problems(in_tmp, broken) == [quoted[1]]


# --------------------------------------------------------------------------- one problem each

SINGLE_PROBLEMS = {
    "unknown top-level table": (
        '[swarn]\nname = "x"\n',
        "config.toml:1: swarn: unknown key; did you mean 'swarm'?",
    ),
    "unknown swarm key": (
        '[swarm]\nname = "x"\naudit = "a.db"\n',
        "config.toml:3: swarm.audit: unknown key; did you mean 'audit_db'?",
    ),
    "unknown agent key": (
        AGENT_A + 'gates = "human"\n',
        "config.toml:4: agents[0].gates: unknown key; did you mean 'gate'?",
    ),
    "unknown budget key, inline table": (
        AGENT_A + "budget = { max_token = 5 }\n",
        "config.toml:4: agents[0].budget.max_token: unknown key; did you mean 'max_tokens'?",
    ),
    "unknown budget key, sub-table": (
        AGENT_A + "[agents.budget]\nmax_turns = 3\nmax_tokns = 5\n",
        "config.toml:6: agents[0].budget.max_tokns: unknown key; did you mean 'max_tokens'?",
    ),
    "unknown breaker key in defaults": (
        '[defaults.breaker]\nrestarts = "never"\n\n' + AGENT_A,
        "config.toml:2: defaults.breaker.restarts: unknown key; did you mean 'restart'?",
    ),
    "unknown pricing key": (
        '[pricing."my-model"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n'
        "cache_reed_per_mtok = 0\n",
        "config.toml:4: pricing.my-model.cache_reed_per_mtok: unknown key;"
        " did you mean 'cache_read_per_mtok'?",
    ),
    "string where an integer belongs": (
        AGENT_A + 'budget.max_turns = "5"\n',
        "config.toml:4: agents[0].budget.max_turns: must be an integer (got '5')",
    ),
    "number where a string belongs": (
        "[[agents]]\nname = 5\ncommand = ['x']\n",
        "config.toml:2: agents[0].name: must be a string (got 5)",
    ),
    "table expected": (
        AGENT_A + "breaker = 3\n",
        "config.toml:4: agents[0].breaker: must be a table (got 3)",
    ),
    "negative limit in defaults": (
        "[defaults.budget]\nmax_cost_usd = -1.5\n",
        "config.toml:2: defaults.budget.max_cost_usd: must be greater than 0 (got -1.5)",
    ),
    "zero swarm cap": (
        "[swarm]\nmax_cost_usd = 0\n",
        "config.toml:2: swarm.max_cost_usd: must be greater than 0 (got 0)",
    ),
    "bad format literal": (
        AGENT_A + 'format = "json"\n',
        "config.toml:4: agents[0].format: must be one of 'native', 'claude-code', 'plain'"
        " (got 'json')",
    ),
    "unsafe name": (
        '[[agents]]\nname = "../etc"\ncommand = ["x"]\n',
        "config.toml:2: agents[0].name: must be a safe agent name: up to 64 letters, digits,"
        " '.', '_' or '-', starting with a letter or digit (got '../etc')",
    ),
    "missing command": (
        '[swarm]\nname = "s"\n\n[[agents]]\nname = "a"\n',
        "config.toml:4: agents[0].command: is required",
    ),
    "empty command": (
        '[[agents]]\nname = "a"\ncommand = []\n',
        "config.toml:3: agents[0].command: must not be empty",
    ),
    "an upstream that is no http URL": (
        '[proxy]\nupstream = "ftp://files.example"\n',
        "config.toml:2: proxy.upstream: must be an http:// or https:// URL (the proxy's only"
        " upstream) (got 'ftp://files.example')",
    ),
    "unknown credential mode": (
        '[proxy]\ncredentials = "borrow"\n',
        "config.toml:2: proxy.credentials: must be one of 'swap', 'passthrough' (got 'borrow')",
    ),
    "blank program": (
        '[[agents]]\nname = "a"\ncommand = ["  ", "x"]\n',
        "config.toml:3: agents[0].command: the program (first element) must not be empty",
    ),
    "duplicate name": (
        AGENT_A + "\n" + AGENT_A,
        "config.toml:6: agents[1].name: duplicate agent name 'a' (also agents[0], line 2)",
    ),
    "after names an unknown agent": (
        '[[agents]]\nname = "architect"\ncommand = ["x"]\n\n'
        '[[agents]]\nname = "b"\ncommand = ["x"]\nafter = ["architekt"]\n',
        "config.toml:8: agents[1].after[0]: unknown agent 'architekt'; did you mean 'architect'?",
    ),
    "after names itself": (
        AGENT_A + 'after = [\n  "a",\n]\n',
        "config.toml:5: agents[0].after[0]: an agent cannot run after itself",
    ),
    "bad environment variable name": (
        AGENT_A + 'env = ["HOME", "MY-TOKEN"]\n',
        "config.toml:4: agents[0].env[1]: 'MY-TOKEN' is not an environment variable name",
    ),
    "agents is not an array of tables": (
        'agents = "a"\n',
        "config.toml:1: agents: must be an array of tables ([[agents]]) (got 'a')",
    ),
    "name has no default": (
        '[defaults]\nname = "x"\n',
        "config.toml:2: defaults.name: cannot have a default: give each agent its own name",
    ),
    "unset environment variable": (
        '[swarm]\naudit_db = "${DATA_DIR}/audit.db"\n',
        "config.toml:2: swarm.audit_db: environment variable DATA_DIR is not set",
    ),
    "TOML syntax error": (
        AGENT_A + "max_attempts = 12x\n",
        "config.toml:4: agents[0].max_attempts: TOML syntax error:"
        " expected newline or end of document after a statement (column 18)",
    ),
    "TOML table declared twice": (
        "[swarm]\n\n[proxy]\n[swarm]\n",
        "config.toml:4: swarm: TOML syntax error: table [swarm] is declared twice (column 7)",
    ),
}


@pytest.mark.parametrize("case", SINGLE_PROBLEMS)
def test_each_problem_names_file_line_and_key(in_tmp: Path, case: str) -> None:
    text, expected = SINGLE_PROBLEMS[case]
    assert problems(in_tmp, text) == [expected]


def test_dependency_cycle_is_named(in_tmp: Path) -> None:
    text = "\n".join(
        f'[[agents]]\nname = "{name}"\ncommand = ["x"]\nafter = ["{dep}"]\n'
        for name, dep in (("a", "c"), ("b", "a"), ("c", "b"), ("d", "a"))
    )
    # d only waits behind the cycle: reported once, at the cycle's first agent.
    assert problems(in_tmp, text) == [
        "config.toml:4: agents[0].after: dependency cycle: a → c → b → a"
    ]


def test_bad_default_is_reported_once_for_every_agent(in_tmp: Path) -> None:
    text = (
        '[defaults]\nformat = "json"\n\n' + AGENT_A + '\n[[agents]]\nname = "b"\ncommand = ["x"]\n'
    )
    assert problems(in_tmp, text) == [
        "config.toml:2: defaults.format: must be one of 'native', 'claude-code', 'plain'"
        " (got 'json')"
    ]


def test_every_problem_is_reported_at_once_in_file_order(in_tmp: Path) -> None:
    text = """\
[swarm]
name = ""
colour = "red"

[[agents]]
name = "a"
command = ["x"]
budget = { max_tokens = 0, max_turns = -2 }

[[agents]]
name = "fine"
command = ["x"]

[[agents]]
name = "c"
command = ["x"]
format = "json"
after = ["ghost"]

[pricing.cheap]
input_per_mtok = -1
"""
    found = problems(in_tmp, text)
    assert found == [
        "config.toml:2: swarm.name: must not be empty",
        "config.toml:3: swarm.colour: unknown key; expected one of: name, audit_db, run_dir,"
        " theme, max_cost_usd, handoff_max_chars, anchor_file, containment,"
        " audit_grace_seconds, radar, integration_branch, manifests",
        "config.toml:8: agents[0].budget.max_tokens: must be greater than 0 (got 0)",
        "config.toml:8: agents[0].budget.max_turns: must be greater than 0 (got -2)",
        "config.toml:17: agents[2].format: must be one of 'native', 'claude-code', 'plain'"
        " (got 'json')",
        "config.toml:18: agents[2].after[0]: unknown agent 'ghost'",
        "config.toml:20: pricing.cheap.output_per_mtok: is required",
        "config.toml:21: pricing.cheap.input_per_mtok: must be at least 0 (got -1)",
    ]


def test_error_message_is_one_problem_per_line(in_tmp: Path) -> None:
    (in_tmp / "config.toml").write_text('[swarm]\nnme = "x"\n\n[proxy]\nupstrem = "y"\n')
    with pytest.raises(ConfigError) as info:
        load_config("config.toml", environ={})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("config.toml:2: swarm.nme: unknown key")
    assert lines[1].startswith("config.toml:5: proxy.upstrem: unknown key")


def test_unreadable_and_non_utf8_files(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nope\.toml: cannot read: No such file"):
        load_config("nope.toml", environ={})
    (in_tmp / "config.toml").write_bytes(b'[swarm]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match=r"^config\.toml:2: not UTF-8 text$"):
        load_config("config.toml", environ={})


# --------------------------------------------------------------------------- merging and values


def test_defaults_merge_key_by_key(in_tmp: Path) -> None:
    cfg = load(
        in_tmp,
        """\
[defaults]
format = "plain"
workspace = "shared"
env = ["LANG"]
command = ["run-agent", "{task}"]

[defaults.budget]
max_tokens = 1000
max_turns = 4

[defaults.breaker]
restart = "on-failure"
max_failures = 2

[[agents]]
name = "plain-one"

[[agents]]
name = "own"
format = "native"
command = ["python", "worker.py"]
env = []
budget = { max_turns = 9, max_cost_usd = 0.5 }

[agents.breaker]
restart = "never"
""",
    )
    first, own = cfg.agents
    assert first.format == "plain" and first.workspace == "shared"
    assert first.command == ["run-agent", "{task}"] and first.env == ["LANG"]
    assert (first.budget.max_tokens, first.budget.max_turns) == (1000, 4)
    assert first.budget.max_cost_usd is None
    assert (first.breaker.restart, first.breaker.max_failures) == ("on-failure", 2)
    assert own.format == "native" and own.command == ["python", "worker.py"] and own.env == []
    assert own.budget.max_tokens == 1000  # from [defaults.budget]
    assert own.budget.max_turns == 9 and own.budget.max_cost_usd == 0.5
    assert (own.breaker.restart, own.breaker.max_failures) == ("never", 2)


def test_problems_in_defaults_show_even_without_agents(in_tmp: Path) -> None:
    assert problems(in_tmp, '[defaults]\nworkspace = 3\nformat = "x"\n') == [
        "config.toml:2: defaults.workspace: must be a string (got 3)",
        "config.toml:3: defaults.format: must be one of 'native', 'claude-code', 'plain' (got 'x')",
    ]


def test_pricing_overrides_merge_and_match_by_prefix(in_tmp: Path) -> None:
    cfg = load(
        in_tmp,
        """\
[pricing."claude-sonnet-4-5"]
input_per_mtok = 2.0

[pricing."acme-coder"]
input_per_mtok = 4.0
output_per_mtok = 8.0
cache_read_per_mtok = 0.1

[pricing.default]
input_per_mtok = 10.0
output_per_mtok = 20.0
""",
    )
    sonnet = cfg.price_for("claude-sonnet-4-5-20250929")  # longest prefix
    assert sonnet.input_per_mtok == 2.0
    assert sonnet.output_per_mtok == 15.0  # kept from the built-in entry
    assert sonnet.cache_read_per_mtok == pytest.approx(0.2)  # derived from the new input price
    assert sonnet.cache_write_per_mtok == pytest.approx(2.5)
    acme = cfg.price_for("acme-coder-v2")
    assert (acme.input_per_mtok, acme.output_per_mtok) == (4.0, 8.0)
    assert acme.cache_read_per_mtok == 0.1 and acme.cache_write_per_mtok == 5.0
    assert cfg.price_for("claude-haiku-4-5").input_per_mtok == 1.0  # built-in, untouched
    assert cfg.price_for("someone-elses-model").input_per_mtok == 10.0
    assert cfg.price_for(None).output_per_mtok == 20.0
    # 1M input + 1M output tokens of acme-coder:
    assert acme.cost(1_000_000, 1_000_000) == pytest.approx(12.0)


def test_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "swarms" / "x"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (folder / "config.toml").write_text(
        """\
[swarm]
audit_db = "../audit/log.db"
run_dir = "${SCRATCH}/run"

[proxy]
upstream = "http://127.0.0.1:${SIM_PORT}"

[[agents]]
name = "in-folder"
command = ["x"]
workspace = "src"

[[agents]]
name = "at-home"
command = ["x"]
workspace = "~/work"

[[agents]]
name = "named"
command = ["x"]
workspace = "worktree"
"""
    )
    env = {"SCRATCH": "/var/tmp/scratch", "SIM_PORT": "8765", "HOME": "/home/op"}
    cfg = load_config(os.path.relpath(folder / "config.toml"), environ=env)
    assert cfg.source == str(folder / "config.toml")
    assert cfg.swarm.audit_db == str(tmp_path / "swarms" / "audit" / "log.db")
    assert cfg.swarm.run_dir == "/var/tmp/scratch/run"
    assert cfg.proxy.upstream == "http://127.0.0.1:8765"
    assert [a.workspace for a in cfg.agents] == [str(folder / "src"), "/home/op/work", "worktree"]


def test_empty_file_is_a_swarm_of_defaults(in_tmp: Path) -> None:
    cfg = load(in_tmp, "")
    assert cfg.agents == [] and cfg.swarm.name == "swarm"
    assert cfg.swarm.audit_db == str(in_tmp / "controlroom.db")
    assert pipeline_stages(cfg) == []


# --------------------------------------------------------------------------- pipeline order


def test_pipeline_stages_are_topological_layers_in_config_order(in_tmp: Path) -> None:
    blocks = [
        ("test", ["build", "lint"]),
        ("build", ["plan"]),
        ("plan", []),
        ("lint", ["plan"]),
        ("docs", []),
        ("ship", ["test", "docs"]),
    ]
    text = "\n".join(
        f'[[agents]]\nname = "{n}"\ncommand = ["x"]\nafter = {deps!r}\n'.replace("'", '"')
        for n, deps in blocks
    )
    cfg = load(in_tmp, text)
    assert pipeline_stages(cfg) == [["plan", "docs"], ["build", "lint"], ["test"], ["ship"]]


def test_pipeline_stages_refuses_a_cycle_built_by_hand() -> None:
    cfg = SwarmConfig(
        agents=[
            AgentSpec(name="a", command=["x"], after=["b"]),
            AgentSpec(name="b", command=["x"], after=["a"]),
        ],
        source="hand.toml",
    )
    with pytest.raises(ConfigError, match=r"^hand\.toml: agents: dependency cycle: a → b → a$"):
        pipeline_stages(cfg)


# --------------------------------------------------------------------------- finding the file


def test_find_config(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config\.toml: no such config file \(pass"):
        find_config(None)
    with pytest.raises(ConfigError, match=r"^other\.toml: no such config file$"):
        find_config("other.toml")
    (in_tmp / "config.toml").write_text("")
    assert find_config(None) == Path("config.toml")
    (in_tmp / "sub").mkdir()
    (in_tmp / "sub" / "config.toml").write_text("")
    assert find_config("sub") == Path("sub/config.toml")


# --------------------------------------------------------------------------- locating keys


def test_key_lines_follow_headers_dotted_keys_inline_tables_and_strings() -> None:
    text = '''\
# [[agents]] in a comment is no header
[swarm]
name = """
[[agents]]
name = "fake"
"""
"quoted.key" = 1
a.b . c = 'x'

[[agents]]
name = "one"
command = [
  "sh",   # comment inside an array
  "-c", 'echo "}]"',
]
budget = { max_tokens = 1, nested = { deep = "x" } }

[ agents.breaker ]
restart = "never"

[[agents]]
list = [{ k = 1 }, { k = 2 }]

[pricing."claude.x"]
input_per_mtok = 1
'''
    lines = TomlKeyLines(text)
    assert lines.line_of(("swarm", "name")) == 3
    assert lines.line_of(("swarm", "quoted.key")) == 7
    assert lines.line_of(("swarm", "a", "b", "c")) == 8
    assert lines.line_of(("agents", 0)) == 10
    assert lines.line_of(("agents", 0, "name")) == 11
    assert lines.line_of(("agents", 0, "command", 2)) == 14
    assert lines.line_of(("agents", 0, "budget", "nested", "deep")) == 16
    assert lines.line_of(("agents", 0, "breaker", "restart")) == 19
    assert lines.line_of(("agents", 1)) == 21
    assert lines.line_of(("agents", 1, "list", 1, "k")) == 22
    assert lines.line_of(("pricing", "claude.x", "input_per_mtok")) == 25
    # a key that is not written falls back to its nearest written parent
    assert lines.line_of(("agents", 1, "command")) == 21
    assert lines.line_of(("nowhere",)) is None
    assert ("agents", 2) not in lines.lines  # the header inside the string did not count


def test_format_key_path() -> None:
    assert format_key_path(("agents", 2, "budget", "max_tokens")) == "agents[2].budget.max_tokens"
    assert format_key_path(("pricing", "claude.x", "input")) == 'pricing."claude.x".input'
    assert format_key_path(()) == ""


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["inline", "dotted", "table"]),
            st.dictionaries(
                st.sampled_from(["max_tokens", "max_turns", "max_cost_usd"]),
                st.integers(min_value=1, max_value=10**6),
                min_size=1,
            ),
            st.booleans(),  # a blank line and a comment before the agent
        ),
        max_size=6,
    )
)
def test_key_lines_match_where_each_key_was_written(
    agents: list[tuple[str, dict[str, int], bool]],
) -> None:
    out: list[str] = ['[swarm]\nname = "p"']
    expected: dict[tuple[str | int, ...], int] = {("swarm", "name"): 2}

    def emit(chunk: str, path: tuple[str | int, ...] | None = None) -> None:
        """Append a chunk of lines; ``path`` is written on its first line."""
        if path is not None:
            expected[path] = "\n".join(out).count("\n") + 2
        out.append(chunk)

    for index, (style, budget, spaced) in enumerate(agents):
        if spaced:
            emit("\n# the next agent\n")
        emit("[[agents]]", ("agents", index))
        emit(f'name = "a{index}"', ("agents", index, "name"))
        emit('command = [\n  "x",', ("agents", index, "command"))
        emit('  "y" ]', ("agents", index, "command", 1))
        if style == "inline":
            pairs = ", ".join(f"{k} = {v}" for k, v in budget.items())
            emit(f"budget = {{ {pairs} }}", ("agents", index, "budget"))
            for key in budget:
                expected[("agents", index, "budget", key)] = expected[("agents", index, "budget")]
        elif style == "dotted":
            for key, value in budget.items():
                emit(f"budget.{key} = {value}", ("agents", index, "budget", key))
        else:
            emit("[agents.budget]", ("agents", index, "budget"))
            for key, value in budget.items():
                emit(f"{key} = {value}", ("agents", index, "budget", key))
    text = "\n".join(out) + "\n"
    data = tomllib.loads(text)  # the generator writes valid TOML
    assert [a["budget"] for a in data.get("agents", [])] == [b for _, b, _ in agents]
    lines = TomlKeyLines(text)
    for path, line in expected.items():
        assert lines.line_of(path) == line, (format_key_path(path), text)


# --------------------------------------------------------------------------- radar and merges


def test_radar_keys_have_defaults_and_are_validated(in_tmp: Path) -> None:
    cfg = load(in_tmp, AGENT_A)
    assert cfg.swarm.radar is True
    assert cfg.swarm.integration_branch == "controlroom/{run}/integration"
    assert "pyproject.toml" in cfg.swarm.manifests and "go.sum" in cfg.swarm.manifests
    assert cfg.agents[0].on_approve == "none" and cfg.agents[0].breaker.stall_turns is None
    text = """\
[swarm]
integration_branch = "merge here"
manifests = ["deps.txt", " "]

[defaults.breaker]
stall_turns = 0

[[agents]]
name = "a"
command = ["x"]
on_approve = "merge"
"""
    assert problems(in_tmp, text) == [
        "config.toml:2: swarm.integration_branch: not a usable git branch name: spaces, "
        "control characters and ~^:?*[\\ are not allowed",
        "config.toml:3: swarm.manifests: a manifest pattern must not be empty",
        "config.toml:6: defaults.breaker.stall_turns: must be greater than 0 (got 0)",
        "config.toml:11: agents[0].on_approve: 'merge' needs workspace = \"worktree\": "
        "only a worktree's branch can be merged",
    ]


def test_merge_on_approve_needs_a_worktree_and_a_human_gate_after_it(in_tmp: Path) -> None:
    text = """\
[[agents]]
name = "a"
command = ["x"]
on_approve = "merge"

[[agents]]
name = "b"
command = ["x"]
workspace = "worktree"
on_approve = "merge"

[[agents]]
name = "c"
command = ["x"]
workspace = "worktree"
on_approve = "merge"

[[agents]]
name = "d"
command = ["x"]
after = ["c"]
gate = "human"
"""
    assert problems(in_tmp, text) == [
        "config.toml:4: agents[0].on_approve: 'merge' needs workspace = \"worktree\": "
        "only a worktree's branch can be merged",
        "config.toml:10: agents[1].on_approve: 'merge' merges when b's handoff is approved at "
        'a gate, and no agent after b has gate = "human"',
    ]
