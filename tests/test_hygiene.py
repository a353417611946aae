"""The suite's own hygiene (``hygiene.py``): signals as a foreground start has them, kept so,
and no test leaves a process of its own running.

Each test runs pytest in a process of its own the way a script or CI step
does in the background (``sh -c 'pytest … & wait'``), where the shell starts
it with SIGINT and SIGQUIT ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PYTEST = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q"]


def pytest_in_background(
    *args: str, cwd: Path, pythonpath: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` as a background job of a non-interactive shell (``env`` adds
    variables)."""
    return subprocess.run(
        ["sh", "-c", '"$@" & wait $!', "sh", sys.executable, "-m", "pytest", *PYTEST, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(pythonpath), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_simulator_started_by_pytest_from_a_background_job_still_stops_on_sigint() -> None:
    # The fresh-clone failure: every simulator inherited SIGINT ignored and outlived the run.
    done = pytest_in_background(
        "tests/test_sim.py::test_python_m_controlroom_sim_prints_its_url_and_serves",
        cwd=ROOT,
        pythonpath=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


GUARDED = """
import asyncio
import os
import signal
import subprocess


def test_starts_with_the_foreground_defaults():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGQUIT) == signal.SIG_DFL


def test_leaves_sigint_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_leaves_sigusr1_blocked():
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])


def test_a_loop_handler_removed_in_time_is_fine():
    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, print)
        loop.remove_signal_handler(signal.SIGTERM)
    asyncio.run(main())


def test_leaves_a_process_running():
    proc = subprocess.Popen(["sleep", "60"])
    with open("leftover.pid", "w") as f:
        f.write(str(proc.pid))


def test_a_process_told_to_stop_may_finish_after_the_test():
    subprocess.Popen(["sleep", "60"]).terminate()


def test_finds_what_the_others_left_put_back():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with open("leftover.pid") as f:
        leftover = int(f.read())
    try:
        os.kill(leftover, 0)
    except ProcessLookupError:
        pass  # killed and reaped
    else:
        raise AssertionError(f"pid {leftover} still exists")
"""


def test_the_guards_fail_the_test_that_leaves_a_signal_or_process_and_put_things_back(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_guarded.py").write_text(textwrap.dedent(GUARDED))
    # Only the plugin under test: the installed ones (hypothesis, textual's snapshots …) play
    # no part in these tests and cost 2 s of CPU to load (0.4 s without them).
    done = pytest_in_background(
        "-p",
        "hygiene",
        cwd=tmp_path,
        pythonpath=TESTS,
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    out = done.stdout
    # Each guarded test passes its own call and errors at teardown, naming what it left.
    assert "7 passed, 3 errors" in out, out + done.stderr
    assert "ERROR at teardown of test_leaves_sigint_ignored" in out
    assert "ERROR at teardown of test_leaves_sigusr1_blocked" in out
    assert "ERROR at teardown of test_leaves_a_process_running" in out
    assert "changed (every process started after it inherits ignored signals): " in out
    assert "ignored signals): SIGINT: default_int_handler -> SIG_IGN\n" in out
    assert "ignored signals): SIGUSR1: now blocked\n" in out
    leftover = (tmp_path / "leftover.pid").read_text()
    assert f"left processes running (killed now): pid {leftover} (sleep 60)\n" in out
