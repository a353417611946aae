"""What the control API says about agents' changes, with real agents writing in a real repository.

Three agents hand off to human gates: alpha and beta rewrite the same line
of ``src/client.py`` (a conflict), gamma writes a file of its own. The
control API's gates carry the radar's keys (changed files, conflicts,
discrepancies, verdict, merge order), ``diff`` gives git's diff, and
``radar`` lists the collisions with since when; all checked against what
the agents wrote and what git says.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from radarkit import CLIENT, git, make_repo, writer
from swarmkit import Swarm, sleeper, swarm

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI, to_json
from controlroom.models import CollisionFound, GateRequested, HandoffChecked

pytestmark = pytest.mark.timeout(120)

EDIT = CLIENT.replace("line 10\n", "{}\n")


def handoff(changed: str) -> dict[str, Any]:
    return {"handoff": {"changed": changed, "next_needs": "review it", "risks": "none"}}


def three_agents() -> list[Any]:
    return [
        writer(
            "alpha",
            [{"write": "src/client.py", "text": EDIT.format("ALPHA")}, handoff("src/client.py")],
        ),
        writer(
            "beta",
            [
                {"write": "src/client.py", "text": EDIT.format("BETA")},
                handoff("src/client.py and src/retry.py"),  # retry.py: never touched
            ],
        ),
        writer(
            "gamma",
            [{"write": "docs/guide.md", "text": "one\ntwo\n"}, handoff("docs/guide.md")],
        ),
        sleeper("next", after=["alpha", "beta", "gamma"], gate="human"),
    ]


async def all_gated(s: Swarm, agents: list[str]) -> None:
    for agent in agents:
        await s.log.until(lambda e, a=agent: isinstance(e, GateRequested) and e.agent == a, 30)
        await s.log.until(lambda e, a=agent: isinstance(e, HandoffChecked) and e.agent == a, 30)


async def test_gates_carry_the_radar_and_diff_gives_git_s_diff(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"src/client.py": CLIENT, "README.md": "# billing\n"})
    async with swarm(tmp_path, three_agents(), base_dir=repo) as s:
        await all_gated(s, ["alpha", "beta", "gamma"])
        await s.log.until(
            lambda e: isinstance(e, CollisionFound) and e.collision_kind == "conflict", 30
        )  # an agent may hand off before the other wrote: the gate's verdict is the live one
        api = ControlAPI(s.sup)
        gates = {g["agent"]: g for g in to_json(api.gates())}

        beta = gates["beta"]
        assert beta["changed_files"] == [
            {"path": "src/client.py", "status": "modified", "added": 1, "removed": 1}
        ]
        assert beta["file_count"] == 1
        assert beta["conflicts"] == [{"other": "alpha", "files": ["src/client.py"]}]
        assert [(d["kind"], d["path"]) for d in beta["discrepancies"]] == [
            ("claimed_untouched", "src/retry.py")
        ]
        assert beta["verdict"] == (
            "merges cleanly with gamma; conflicts with alpha in src/client.py"
        )
        assert gates["alpha"]["discrepancies"] == []
        assert gates["gamma"]["conflicts"] == []
        # fewest conflicts first: gamma conflicts with nobody, alpha and beta with each other
        assert [gates[a]["merge_order"] for a in ("gamma", "alpha", "beta")] == [1, 2, 3]
        # the snapshot's gates carry the same keys; its agents their counts
        snapshot = to_json(api.snapshot())
        assert {g["agent"]: g["verdict"] for g in snapshot["gates"]} == {
            a: g["verdict"] for a, g in gates.items()
        }
        counts = {a["name"]: a["changes"] for a in snapshot["agents"]}
        assert counts["gamma"] == {"tracked": True, "files": 1, "added": 2, "removed": 0}
        assert counts["next"] == {"tracked": False, "files": 0, "added": 0, "removed": 0}
        assert snapshot["totals"]["collisions"] >= 1

        diff = to_json(await api.call("diff", {"agent": "beta"}))
        assert diff["tracked"] and not diff["truncated"]
        assert diff["branch"] == f"controlroom/{s.run_id}/beta"
        assert diff["base"] == git(repo, "rev-parse", "HEAD")
        assert "-line 10\n+BETA\n" in diff["diff"]
        assert "diff --git a/src/client.py b/src/client.py" in diff["diff"]
        assert [(d["kind"], d["path"]) for d in diff["discrepancies"]] == [
            ("claimed_untouched", "src/retry.py")
        ]
        gamma = to_json(await api.call("diff", {"agent": "gamma"}))
        assert "new file mode" in gamma["diff"] and "+one\n+two\n" in gamma["diff"]

        radar = to_json(await api.call("radar", {}))
        assert radar["enabled"] and radar["merge_order"] == ["gamma", "alpha", "beta"]
        found = {(c["kind"], c["path"], tuple(c["agents"])) for c in radar["collisions"]}
        assert ("file", "src/client.py", ("alpha", "beta")) in found
        assert ("conflict", "src/client.py", ("alpha", "beta")) in found
        assert all(time.time() - 120 < c["since"] <= time.time() for c in radar["collisions"])

        untracked = to_json(await api.call("diff", {"agent": "next"}))
        assert not untracked["tracked"] and untracked["diff"] == ""
        with pytest.raises(ControlError, match="unknown agent 'nobody'"):
            await api.call("diff", {"agent": "nobody"})


async def test_without_a_repository_the_keys_are_there_and_say_why(tmp_path: Path) -> None:
    solo = writer("solo", [{"write": "a.txt", "text": "a\n"}, handoff("a.txt")], workspace="shared")
    agents = [solo, sleeper("next", after=["solo"], gate="human")]
    async with swarm(tmp_path, agents) as s:
        await s.log.until(lambda e: isinstance(e, GateRequested), 30)
        api = ControlAPI(s.sup)
        (gate,) = to_json(api.gates())
        assert gate["changed_files"] == [] and gate["conflicts"] == []
        assert gate["verdict"].startswith("not tracked: ")
        assert gate["merge_order"] is None
        diff = to_json(await api.call("diff", {"agent": "solo"}))
        assert not diff["tracked"] and diff["why"]
        radar = to_json(await api.call("radar", {}))
        assert radar["collisions"] == [] and radar["merge_order"] == []
