"""What the suite starts from and what no test may leave behind: signals and processes.

Signal dispositions are process-wide and a subprocess inherits the ignored
ones: a test that leaves SIGINT ignored makes every process that a later test
starts deaf to Ctrl-C. Two ways that happens, and the guard for each:

* The shell. A non-interactive shell starts a background job (``pytest &``,
  a CI step run in the background) with SIGINT and SIGQUIT ignored; pytest
  inherits that, then every simulator, swarm and agent the suite starts
  does too, and a test that stops one with SIGINT waits in vain (the
  failure of ``test_sim``'s SIGINT test on a fresh clone). ``pytest_configure``
  gives both back their defaults, as a foreground start has them: the suite
  sends SIGINT to its children and means it.
* A test. ``signals_left_as_found`` (autouse, from conftest) compares every
  disposition and the blocked mask after each test with before it: a test
  that changed one fails by name, and the state is put back so the tests
  after it do not pay for it.

Processes: ``processes_left_as_found`` (autouse) fails the test that leaves
a process of its own running (a descendant of pytest started during the
test, still alive a few seconds after it), and kills it, so that a failed
test cannot leave a simulator or an agent running for the rest of the day.

A plugin module, so a test can load it into a pytest run of its own with
``-p hygiene`` and check the guards themselves.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

import psutil
import pytest

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None

# What a shell ignores in a background job, and what a foreground start has instead.
SHELL_IGNORED: dict[signal.Signals, Handler] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGQUIT: signal.SIG_DFL,
}
# pytest-timeout owns SIGALRM (set and reset around each test); SIGKILL/SIGSTOP cannot change.
_NOT_OURS = {signal.SIGALRM, signal.SIGKILL, signal.SIGSTOP}
_WATCHED = sorted(
    s for s in signal.valid_signals() if isinstance(s, signal.Signals) and s not in _NOT_OURS
)


def restore_shell_ignored_signals() -> list[str]:
    """Give SIGINT/SIGQUIT their foreground defaults if pytest started with them ignored."""
    restored = []
    for signum, default in SHELL_IGNORED.items():
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, default)
            restored.append(signum.name)
    return restored


def pytest_configure(config: pytest.Config) -> None:
    restore_shell_ignored_signals()


@dataclass(frozen=True)
class SignalState:
    """Every signal's disposition (as Python sees it) and the main thread's blocked mask."""

    handlers: dict[signal.Signals, Handler]
    blocked: frozenset[signal.Signals]

    @classmethod
    def now(cls) -> SignalState:
        return cls(
            handlers={s: signal.getsignal(s) for s in _WATCHED},
            blocked=frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        )

    def changes_in(self, later: SignalState) -> list[str]:
        """What differs in ``later``: one phrase per signal, ``SIGINT: SIG_DFL -> SIG_IGN``."""
        changes = [
            f"{s.name}: {_name(self.handlers[s])} -> {_name(later.handlers[s])}"
            for s in _WATCHED
            if self.handlers[s] != later.handlers[s]
        ]
        changes += [f"{s.name}: now blocked" for s in sorted(later.blocked - self.blocked)]
        changes += [f"{s.name}: now unblocked" for s in sorted(self.blocked - later.blocked)]
        return changes

    def restore(self) -> None:
        for signum, handler in self.handlers.items():
            if handler is not None:  # None: installed from C, not ours to put back
                signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.blocked)


def _name(handler: Handler) -> str:
    if handler == signal.SIG_IGN:
        return "SIG_IGN"
    if handler == signal.SIG_DFL:
        return "SIG_DFL"
    return getattr(handler, "__qualname__", repr(handler))


@pytest.fixture(autouse=True)
def signals_left_as_found() -> Iterator[None]:
    """Fail the test that leaves a signal disposition or the signal mask changed."""
    before = SignalState.now()
    yield
    changes = before.changes_in(SignalState.now())
    if changes:
        before.restore()
        pytest.fail(
            "this test left signal dispositions changed (every process started after it "
            "inherits ignored signals): " + "; ".join(changes),
            pytrace=False,
        )


LEFTOVER_GRACE_SECONDS = 3.0  # a process told to stop just before the test ended may finish


def _running_descendants() -> dict[tuple[int, float], psutil.Process]:
    """Every live (not zombie) descendant of this process, keyed by (pid, create time)."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found[(proc.pid, proc.create_time())] = proc
        except psutil.Error:
            pass
    return found


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid} ({' '.join(proc.cmdline())[:120]})"
    except psutil.Error:
        return f"pid {proc.pid}"


@pytest.fixture(autouse=True)
def processes_left_as_found() -> Iterator[None]:
    """Fail the test that leaves a process it started running; kill that process."""
    before = set(_running_descendants())
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while True:
        left = {key: p for key, p in _running_descendants().items() if key not in before}
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if not left:
        return
    described = [_describe(p) for p in left.values()]
    for proc in left.values():
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(left.values()), timeout=5)
    pytest.fail(
        "this test left processes running (killed now): " + "; ".join(described), pytrace=False
    )
