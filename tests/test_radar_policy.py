"""The radar's judgement with plain values: collisions, verdicts, merge order, pins, claims."""

from __future__ import annotations

from controlroom.models import ChangeSet, Collision, FileChange, MergeCheck
from controlroom.policy.discrepancies import handoff_discrepancies, named_paths
from controlroom.policy.manifests import changed_pins, is_manifest, pins
from controlroom.policy.radar import (
    compare_collisions,
    find_collisions,
    merge_order,
    overlapping_pairs,
    pair,
    verdict,
)

MANIFESTS = ["pyproject.toml", "requirements*.txt", "package.json"]


def cs(agent: str, *paths: str, repo: str = "r", root: str | None = None) -> ChangeSet:
    return ChangeSet(
        agent=agent,
        repo=repo,
        root=root or f"/wt/{agent}",
        files=tuple(FileChange(path=p, added=1, removed=0) for p in paths),
    )


def check(a: str, b: str, *files: str) -> MergeCheck:
    return MergeCheck(left=a, right=b, clean=not files, files=files)


# --------------------------------------------------------------------------- collisions


def test_one_file_collision_per_file_naming_every_agent_on_it() -> None:
    sets = [cs("c", "src/a.py", "x.py"), cs("a", "src/a.py"), cs("b", "src/a.py", "y.py")]
    found = find_collisions(sets, MANIFESTS, {})
    assert found == [
        Collision(
            kind="file", path="src/a.py", agents=("a", "b", "c"), detail="changed by a, b and c"
        )
    ]
    assert overlapping_pairs(sets) == {("a", "b"), ("a", "c"), ("b", "c")}


def test_no_collision_across_repositories_or_within_one_shared_working_tree() -> None:
    sets = [
        cs("a", "f.py", repo="one"),
        cs("b", "f.py", repo="two"),
        cs("c", "g.py", root="/shared"),
        cs("d", "g.py", root="/shared"),
    ]
    assert find_collisions(sets, MANIFESTS, {}) == []
    assert overlapping_pairs(sets) == set()


def test_a_shared_manifest_names_the_dependency_pinned_two_ways() -> None:
    sets = [cs("a", "pyproject.toml"), cs("b", "pyproject.toml")]
    key = ("python", "manifest", "requests")
    other = ("python", "manifest", "click")
    agent_pins = {
        "a": {"pyproject.toml": {key: "==2.31", other: ">=8"}},
        "b": {"pyproject.toml": {key: ">=2.32", other: ">=8"}},
    }
    (found,) = find_collisions(sets, MANIFESTS, agent_pins)
    assert (found.kind, found.path, found.dependency) == ("manifest", "pyproject.toml", "requests")
    assert found.detail == "requests: a pins ==2.31, b pins >=2.32"
    # pinned the same way: still both edit the manifest, no dependency named
    agreed = {"a": {"pyproject.toml": {key: "==2"}}, "b": {"pyproject.toml": {key: "==2"}}}
    (same,) = find_collisions(sets, MANIFESTS, agreed)
    assert (same.kind, same.dependency) == ("manifest", "")


def test_one_dependency_pinned_two_ways_in_two_manifests() -> None:
    key = ("python", "manifest", "requests")
    sets = [cs("a", "requirements.txt"), cs("b", "pyproject.toml")]
    agent_pins = {
        "a": {"requirements.txt": {key: "==2.31"}},
        "b": {"pyproject.toml": {key: ""}},
    }
    (found,) = find_collisions(sets, MANIFESTS, agent_pins)
    assert found.path == "pyproject.toml, requirements.txt"
    assert found.detail == (
        "requests: a pins ==2.31, b pins (removed) (in pyproject.toml, requirements.txt)"
    )


def test_conflicting_checks_are_conflict_collisions_per_file() -> None:
    found = find_collisions([], MANIFESTS, {}, [check("b", "a", "x.py", "y.py"), check("a", "c")])
    assert [(c.kind, c.path, c.agents) for c in found] == [
        ("conflict", "x.py", ("a", "b")),
        ("conflict", "y.py", ("a", "b")),
    ]


def test_compare_says_what_is_new_and_what_cleared() -> None:
    one = Collision(kind="file", path="a", agents=("x", "y"))
    two = Collision(kind="file", path="b", agents=("x", "y"))
    moved = Collision(kind="file", path="a", agents=("x", "y"), detail="changed again")
    raised, cleared = compare_collisions({one.key: one}, [moved, two])
    assert raised == [two] and cleared == []  # a new detail is not a new collision
    raised, cleared = compare_collisions({one.key: one, two.key: two}, [])
    assert raised == [] and cleared == [one, two]


# --------------------------------------------------------------------------- verdict and order


def test_verdict_names_who_it_merges_with_and_where_it_conflicts() -> None:
    sets = [cs("impl", "src/client.py"), cs("tester", "src/client.py"), cs("docs", "README.md")]
    checks = {pair("impl", "tester"): check("impl", "tester", "src/client.py")}
    assert verdict("impl", sets, checks) == (
        "merges cleanly with docs; conflicts with tester in src/client.py"
    )
    assert verdict("impl", sets, {}) == "merges cleanly with docs; not yet checked against tester"
    into = ("integration", check("integration", "impl"))
    assert verdict("docs", sets, checks, into) == (
        "merges cleanly with impl and tester; merges cleanly into integration"
    )
    assert verdict("ghost", sets, checks).startswith("not tracked")
    assert verdict("idle", [*sets, cs("idle")], checks) == "no changes against its base"


def test_merge_order_fewest_conflicts_first() -> None:
    checks = {
        pair("a", "b"): check("a", "b", "f"),
        pair("a", "c"): check("a", "c", "g"),
        pair("b", "c"): check("b", "c"),
    }
    assert merge_order(["a", "b", "c", "d"], checks) == ["d", "b", "a", "c"]
    assert merge_order([], checks) == []


# --------------------------------------------------------------------------- manifests


def test_pins_from_each_manifest_format() -> None:
    assert pins("requirements-dev.txt", "Requests[socks] == 2.1 # c\n-e .\nflask\n") == {
        ("python", "manifest", "requests"): "==2.1",
        ("python", "manifest", "flask"): "*",
    }
    lock = '[[package]]\nname = "Requests"\nversion = "2.31.0"\n'
    assert pins("uv.lock", lock) == {("python", "lock", "requests"): "2.31.0"}
    assert pins("package.json", '{"devDependencies": {"jest": "^29"}}') == {
        ("npm", "manifest", "jest"): "^29"
    }
    assert pins("Cargo.toml", '[dependencies]\nserde = { version = "1" }\n') == {
        ("cargo", "manifest", "serde"): "1"
    }
    gomod = "module x\nrequire (\n\tgithub.com/a/b v1.2.3\n)\nrequire c.io/d v2.0.0 // x\n"
    assert pins("go.mod", gomod) == {
        ("go", "manifest", "github.com/a/b"): "v1.2.3",
        ("go", "manifest", "c.io/d"): "v2.0.0",
    }
    assert pins("yarn.lock", "anything") is None
    assert pins("pyproject.toml", "[[broken") is None


def test_changed_pins_are_what_moved_from_the_base() -> None:
    base = '[project]\nname="x"\ndependencies=["requests>=2.0", "click"]\n'
    now = '[project]\nname="x"\ndependencies=["requests==2.31.0"]\n'
    assert changed_pins("pyproject.toml", base, now) == {
        ("python", "manifest", "requests"): "==2.31.0",
        ("python", "manifest", "click"): "",
    }
    assert changed_pins("pyproject.toml", None, now) == {
        ("python", "manifest", "requests"): "==2.31.0"
    }
    assert changed_pins("pyproject.toml", base, "[[") is None


def test_manifest_patterns_match_names_or_paths() -> None:
    assert is_manifest("sub/requirements-dev.txt", ["requirements*.txt"])
    assert not is_manifest("sub/notes.txt", ["requirements*.txt"])
    assert is_manifest("deps/pins.cfg", ["deps/*.cfg"]) and not is_manifest(
        "pins.cfg", ["deps/*.cfg"]
    )


# --------------------------------------------------------------------------- discrepancies


def test_file_names_are_read_out_of_prose_but_not_words() -> None:
    text = (
        "Added retries to src/billing/client.py and README.md; see https://x.org/a.py. "
        "Uses Node.js and/or I/O, e.g. v2.31.0. Touched tests/ and src/billing."
    )
    known = ["src/billing/client.py", "README.md"]
    assert named_paths(text, known) == [
        "src/billing/client.py",
        "README.md",
        "tests/",
        "src/billing",
    ]


def test_discrepancies_between_a_handoff_and_its_diff() -> None:
    files = [
        FileChange(path="src/client.py", added=3, removed=1),
        FileChange(path="tests/test_client.py", added=9, removed=0),
        FileChange(path="setup.py", added=1, removed=1),
    ]
    text = "Added retries to src/client.py and its tests/; documented them in README.md"
    found = handoff_discrepancies(text, files, ["README.md", "src/client.py", "setup.py"])
    assert [(d.kind, d.path, d.text) for d in found] == [
        ("claimed_untouched", "README.md", "names README.md, which the diff does not touch"),
        ("unmentioned", "setup.py", "changed setup.py (+1 -1) but never mentions it"),
    ]
    assert handoff_discrepancies("No code changes: the design is in next_needs.", []) == []
    (empty,) = handoff_discrepancies("Refactored the retry loop", [])
    assert empty.kind == "claimed_empty"


def test_a_long_list_of_unmentioned_files_is_cut_with_a_count() -> None:
    files = [FileChange(path=f"gen/f{i}.py") for i in range(25)]
    found = handoff_discrepancies("regenerated the client", files)
    assert len(found) == 21 and found[-1].text == "and 5 more changed files never mentioned"


# --------------------------------------------------------------------------- wording


def test_each_radar_and_merge_event_has_one_line_of_words() -> None:
    from controlroom.models import (
        CollisionFound,
        Discrepancy,
        FilesChanged,
        HandoffChecked,
        MergeCompleted,
        MergeRefused,
        ScopeViolation,
    )
    from controlroom.text import describe, worth_a_line

    files = [FileChange(path="a.py", added=3, removed=1)]
    quick = FilesChanged(
        agent="a", base="0123456789", files=files, file_count=1, added=3, removed=1
    )
    assert describe(quick) == "changed 1 file (+3 -1) against 0123456"
    assert not worth_a_line(quick)  # the quick look is not news until git confirms it
    assert worth_a_line(quick.model_copy(update={"confirmed": True}))
    collision = Collision(kind="file", path="a.py", agents=("a", "b"), detail="changed by a and b")
    found = CollisionFound.of(collision)
    assert describe(found) == "collision (file) a.py: changed by a and b" and worth_a_line(found)
    assert describe(ScopeViolation(path="x.py", detail="written there")) == (
        "scope violation: x.py written there"
    )
    claim = Discrepancy(kind="claimed_empty", text="claims changes")
    checked = HandoffChecked(file_count=0, discrepancies=[claim], verdict="no changes")
    assert describe(checked) == "handoff held against 0 files: 1 discrepancy; no changes"
    merged = MergeCompleted(into="int", commit="abcdef0123", source="s", files=2)
    assert describe(merged) == "merged into int as abcdef0 (2 files)"
    refused = MergeRefused(into="int", conflicts=["a.py"])
    assert describe(refused) == "merge into int refused: conflicts in a.py"
