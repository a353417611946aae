"""The radar's OS side against real git: discovery, change sets, quick looks, snapshots, merges."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radarkit import CLIENT, git, make_repo

from controlroom._errors import GitError
from controlroom.models import FileChange
from controlroom.process.changes import BlobCache, blob_id, judge_paths, line_counts, look_at
from controlroom.process.gitmerge import (
    commit_merge,
    diff_text,
    ensure_branch,
    merge_tree,
    snapshot,
)
from controlroom.process.gitstate import (
    GitWorkspace,
    belongs_to,
    confirm_changes,
    discover,
    tree_entries,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            "src/client.py": CLIENT,
            "src/gone.py": "a\nb\n",
            "bin/run": "#!/bin/sh\n",
            ".gitignore": "*.log\n",
        },
    )


def worktree(repo: Path, name: str) -> GitWorkspace:
    path = repo.parent / "wt" / name
    git(repo, "worktree", "add", "-q", "-b", name, str(path), "HEAD")
    ws = discover(path)
    assert ws is not None
    return ws


def judge(ws: GitWorkspace, *paths: str) -> dict[str, FileChange | None]:
    return judge_paths(ws, tree_entries(ws, ws.head), paths, BlobCache(), {})


def test_discover_pins_the_worktree_and_its_repository(repo: Path, tmp_path: Path) -> None:
    ws = worktree(repo, "alpha")
    assert ws.top == (tmp_path / "wt" / "alpha").resolve()
    assert ws.common_dir == (repo / ".git").resolve()
    assert ws.git_dir.parent == ws.common_dir / "worktrees"
    assert (ws.branch, ws.head) == ("alpha", git(repo, "rev-parse", "HEAD"))
    inner = discover(ws.top / "src")
    assert inner is not None and inner.prefix == "src/" and inner.top == ws.top
    assert discover(tmp_path) is None  # not a repository
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert discover(empty) is None  # no commit: nothing to measure against
    main = discover(repo)
    assert main is not None and belongs_to(ws, main) and belongs_to(main, main)


def test_quick_look_and_git_agree_on_every_kind_of_change(repo: Path) -> None:
    ws = worktree(repo, "alpha")
    top = ws.top
    (top / "src" / "client.py").write_text(CLIENT.replace("line 3\n", "three\n") + "more\n")
    (top / "src" / "gone.py").unlink()
    (top / "src" / "new.py").write_text("x = 1\ny = 2\n")
    (top / "data.bin").write_bytes(b"\0\1\2")
    (top / "debug.log").write_text("ignored\n")
    (top / "bin" / "run").chmod(0o755)  # a mode change: +0 -0, as git says
    (top / "link").symlink_to("/etc/passwd")  # a symlink is its target's name, never its content
    os.mkfifo(top / "pipe")  # never opened: a FIFO would hang a reader
    tracked, untracked = confirm_changes(ws, ws.head)
    assert sorted(untracked) == ["data.bin", "link", "src/new.py"]
    looked = judge(ws, *(c.path for c in tracked), *untracked, "debug.log", "pipe", "src/x.py")
    by_git = {c.path: c for c in tracked} | {p: looked[p] for p in untracked}
    assert {p: c for p, c in looked.items() if c is not None} == by_git
    assert by_git["src/client.py"] == FileChange(path="src/client.py", added=2, removed=1)
    assert by_git["src/gone.py"] == FileChange(
        path="src/gone.py", status="deleted", added=0, removed=2
    )
    assert by_git["bin/run"] == FileChange(path="bin/run", added=0, removed=0)
    assert by_git["data.bin"].counts() == "binary"
    assert by_git["link"] == FileChange(path="link", status="added", added=1, removed=0)
    assert looked["debug.log"] is None and looked["pipe"] is None


def test_a_file_written_back_to_its_original_content_is_unchanged(repo: Path) -> None:
    ws = worktree(repo, "alpha")
    client = ws.top / "src" / "client.py"
    client.write_text("changed\n")
    assert judge(ws, "src/client.py")["src/client.py"] is not None
    client.write_text(CLIENT)
    assert judge(ws, "src/client.py")["src/client.py"] is None
    assert confirm_changes(ws, ws.head) == ([], [])


def test_committed_work_counts_against_the_base_not_head(repo: Path) -> None:
    ws = worktree(repo, "alpha")
    (ws.top / "src" / "new.py").write_text("a\n")
    git(ws.top, "add", "-A")
    git(ws.top, "commit", "-q", "-m", "agent's commit")
    tracked, untracked = confirm_changes(ws, ws.head)  # ws.head: the base, pinned at discovery
    assert tracked == [FileChange(path="src/new.py", status="added", added=1, removed=0)]
    assert untracked == []


def test_a_redirected_dot_git_file_is_not_followed(repo: Path, tmp_path: Path) -> None:
    """An agent points its worktree's .git at a repository whose config runs a program."""
    ws = worktree(repo, "alpha")
    evil = tmp_path / "evil"
    make_repo(evil, {"x": "x\n"})
    pwned = tmp_path / "PWNED"
    git(evil, "config", "filter.evil.clean", f"sh -c 'touch {pwned}; cat'")
    git(evil, "config", "core.fsmonitor", f"sh -c 'touch {pwned}'")
    (ws.top / ".git").write_text(f"gitdir: {evil / '.git'}\n")
    (ws.top / ".gitattributes").write_text("* filter=evil\n")
    (ws.top / "src" / "client.py").write_text("changed\n")
    tracked, untracked = confirm_changes(ws, ws.head)
    snapshot(ws, tmp_path / "scratch")
    assert {c.path for c in tracked} == {"src/client.py"} and untracked == [".gitattributes"]
    assert not pwned.exists()
    again = discover(ws.top)  # what a fresh look at the worktree would now find
    main = discover(repo)
    assert again is not None and main is not None and not belongs_to(again, main)


def test_snapshots_merge_checks_and_diffs_leave_every_tree_alone(
    repo: Path, tmp_path: Path
) -> None:
    a, b, c = worktree(repo, "a"), worktree(repo, "b"), worktree(repo, "c")
    (a.top / "src" / "client.py").write_text(CLIENT.replace("line 10\n", "A\n"))
    (b.top / "src" / "client.py").write_text(CLIENT.replace("line 10\n", "B\n"))
    (c.top / "src" / "client.py").write_text(CLIENT + "line 21\n")
    (c.top / "notes.md").write_text("new\n")
    scratch = tmp_path / "scratch"
    objects_before = git(repo, "count-objects")
    snaps = {ws.branch: snapshot(ws, scratch) for ws in (a, b, c)}
    conflict = merge_tree(a, snaps["a"], snaps["b"], scratch)
    assert conflict.conflicts == ("src/client.py",) and not conflict.clean
    assert merge_tree(a, snaps["a"], snaps["c"], scratch).clean
    diff = diff_text(c, c.head, snaps["c"], scratch)
    assert "+line 21" in diff and "+++ b/notes.md" in diff
    assert git(repo, "count-objects") == objects_before  # scratch objects only
    for ws in (a, b, c):
        assert git(ws.top, "rev-parse", "HEAD") == ws.head  # no commit on the agent's branch
        assert git(ws.top, "diff", "--cached", "--name-only") == ""  # its index untouched
    assert snapshot(worktree(repo, "clean"), scratch) == a.head  # nothing to snapshot


def test_merging_into_a_branch_moves_only_from_where_it_was(repo: Path) -> None:
    main = discover(repo)
    assert main is not None
    ws = worktree(repo, "alpha")
    head, created = ensure_branch(main, "integration", main.head)
    assert (head, created) == (main.head, True)
    assert ensure_branch(main, "integration", "HEAD~0") == (main.head, False)
    (ws.top / "src" / "client.py").write_text("merged\n")
    source = snapshot(ws, None)
    result = merge_tree(ws, head, source, None)
    commit = commit_merge(ws, "integration", head, source, result.tree, "Merge alpha")
    assert git(repo, "rev-parse", "integration") == commit
    assert git(repo, "show", "integration:src/client.py") == "merged"
    with pytest.raises(GitError):  # the branch moved meanwhile: compare and swap refuses
        commit_merge(ws, "integration", head, source, result.tree, "Merge alpha again")
    assert git(repo, "rev-parse", "integration") == commit


def test_look_at_refuses_what_it_must_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert look_at(tmp_path / "pipe").data is None
    (tmp_path / "f").write_bytes(b"hi\n")
    (tmp_path / "f").chmod(0o755)
    assert look_at(tmp_path / "f").mode == "100755"
    assert not look_at(tmp_path / "missing").exists
    assert (
        blob_id(b"hi\n")
        == subprocess.run(
            ["git", "hash-object", "--stdin"], input=b"hi\n", capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )


_line_edits = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 40)),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=st.integers(0, 40), edits=_line_edits, newline_at_end=st.booleans())
def test_line_counts_are_git_s_numstat(
    tmp_path: Path, size: int, edits: list[tuple[str, int]], newline_at_end: bool
) -> None:
    old = [f"line {i}\n" for i in range(size)]
    new = list(old)
    for serial, (op, at) in enumerate(edits):
        at = min(at, len(new))
        if op == "insert":
            new.insert(at, f"new {serial}\n")
        elif new:
            at = min(at, len(new) - 1)
            new[at : at + 1] = [] if op == "delete" else [f"changed {serial}\n"]
    if new and not newline_at_end:
        new[-1] = new[-1].rstrip("\n")
    before, after = tmp_path / "before", tmp_path / "after"
    before.write_text("".join(old))
    after.write_text("".join(new))
    out = subprocess.run(
        ["git", "diff", "--no-index", "--numstat", str(before), str(after)],
        capture_output=True,
        text=True,
    ).stdout.split()
    expected = (int(out[0]), int(out[1])) if out else (0, 0)
    assert line_counts(before.read_bytes(), after.read_bytes()) == expected
