"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from hygiene import (  # noqa: F401 (a hook and autouse fixtures)
    processes_left_as_found,
    pytest_configure,
    signals_left_as_found,
)
from swarmkit import need_containment

from controlroom.process.linux import become_subreaper
from controlroom.process.runcgroups import RunCgroups


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test started or saw; whatever of them still lives at the end is killed.

    Only pids the test itself put here: a failing test must not leak processes,
    and must not touch anyone else's.
    """
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC for the test (log lines and screens print local time), then as it was."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture(autouse=True)
def isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty ``$XDG_STATE_HOME``: a view remembered by one test never shows in another."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One real headless demo at speed 10 with ``--db tmp/x.db``: (cwd, db, stdout).

    Shared by the demo's story tests and the replay tests (which only read its
    audit file): a demo run is the slowest thing the suite starts.
    """
    from clikit import controlroom

    cwd = tmp_path_factory.mktemp("demo")
    result = controlroom(
        "demo", "--headless", "--speed", "10", "--db", "tmp/x.db", cwd=cwd, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return cwd, cwd / "tmp" / "x.db", result.stdout


@pytest.fixture
async def run_cgroups() -> AsyncIterator[RunCgroups]:
    """A run's cgroups for this test (skipped where none can be made, outside CI).

    At the end whatever is left in them is thawed and killed, and they are
    removed: a test that froze one, or left a process in one, leaves nothing.
    """
    need_containment("cgroup")
    become_subreaper()  # as the supervisor is: orphans come back to us
    run = RunCgroups.create(f"test-{secrets.token_hex(4)}")
    try:
        yield run
    finally:
        for group in run.agents.values():
            group.freeze(False)
            if group.populated():
                group.kill()
                await group.wait_for("populated", 0, 5)
        assert run.remove() == []
        assert not os.path.exists(run.path)
