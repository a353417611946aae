"""One run of a swarm in this process: open, start, stop on signal, wait, close.

``controlroom run --headless``, ``controlroom demo``, the dashboard and a
detached dashboard all run their swarm through a ``SwarmHost``, so a run is
opened, stopped and closed the same way everywhere:

* ``open()``: the audit store first (it takes the database's run lock, so a
  second control room is refused before anything else happens), then the
  supervisor, then the control socket, listening before any agent starts,
  then ``/metrics`` when ``[metrics] listen`` is set (an address that cannot
  be bound fails the open: nothing was started), then the notifier.
* ``start()``: record the run and spawn the first stage, unless a stop came
  first (then the run is recorded and nothing is spawned).
* ``stop()``: every agent, through the supervisor's one stop path: from the
  call on nothing is spawned, a spawn in flight is killed once it lands.
  Under ``signals()`` the first SIGINT/SIGTERM stops gracefully (SIGTERM,
  grace, SIGKILL) and a second kills at once.
* ``close()``: waits for every stop (so each ``kill_completed`` is committed),
  gives the notifier its grace to deliver what is queued, records how the
  run ended, then releases the socket and the store.

``write_log`` is the headless and the detached log, two consumers of the same
host: a line per significant event (``text.worth_a_line``), each printed
only once it is committed to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from controlroom._errors import AuditError
from controlroom.control.api import ControlAPI
from controlroom.control.server import ControlSocketServer
from controlroom.models import SwarmConfig, new_run_id
from controlroom.ops.notify import Notifier
from controlroom.ops.notify.channels import tty_writer
from controlroom.process.kill import KillReport
from controlroom.store.writer import AuditStore
from controlroom.swarm.bus import Subscription
from controlroom.swarm.interpreter import tune_interpreter
from controlroom.swarm.supervisor import Supervisor
from controlroom.text import format_line, worth_a_line

if TYPE_CHECKING:
    from controlroom.ops.server import MetricsServer

# The screens and the CLI reach the swarm only through this layer (pyproject's contract):
# ``Supervisor`` is named here for them as the type of ``SwarmHost.supervisor``, and
# ``tune_interpreter`` for the entry points that start a swarm in their own process.
__all__ = ["UNRECORDED", "Supervisor", "SwarmHost", "tune_interpreter", "write_log"]

UNRECORDED = "[unrecorded]"
"""Ends a log line whose event the audit log could not take (yet)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SwarmHost:
    """Owns one run: its store, supervisor and socket, and how it is stopped."""

    def __init__(
        self,
        cfg: SwarmConfig,
        db: Path,
        *,
        base_dir: Path | None = None,
        mode: str = "headless",
        notices: TextIO | None = None,
    ) -> None:
        self.cfg = cfg
        self.db = Path(db)
        self.base_dir = base_dir or Path.cwd()
        self.mode = mode
        self.notices = notices  # where "SIGINT: stop all" goes (default: stderr at the time)
        self.signals_received: list[str] = []
        self.stop_reason: str | None = None
        self.started = False
        self._store: AuditStore | None = None
        self._supervisor: Supervisor | None = None
        self._server: ControlSocketServer | None = None
        self.metrics: MetricsServer | None = None  # serving /metrics, when [metrics] listen is set
        self.notifier: Notifier | None = None  # delivering [[notify]], when there are entries
        self._stops: set[asyncio.Future[dict[str, KillReport | None]]] = set()
        self._logs: set[asyncio.Task[None]] = set()
        self._closed = False
        self._unwritten: list[str] = []  # the log could not take the run's end: why

    # ------------------------------------------------------------------ parts

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("SwarmHost.open() first")
        return self._supervisor

    @property
    def socket_path(self) -> Path:
        if self._server is not None:
            return self._server.path
        return self.base_dir / self.cfg.swarm.run_dir / "control.sock"

    @property
    def interrupted(self) -> bool:
        """A signal stopped the run."""
        return bool(self.signals_received)

    # ------------------------------------------------------------------ life

    async def open(self) -> None:
        """Store, supervisor, socket, in that order; nothing runs yet."""
        run_id = new_run_id()
        store = await AuditStore.open(
            self.db,
            run_id,
            secrets=self.cfg.secret_values(),
            anchor_file=self.cfg.swarm.anchor_file,
        )
        try:
            supervisor = Supervisor(
                self.cfg, store, run_id=run_id, base_dir=self.base_dir, mode=self.mode
            )
            server = ControlSocketServer(
                ControlAPI(supervisor), supervisor.run_dir / "control.sock"
            )
            await server.start()
        except BaseException:
            await store.close()
            raise
        self._store, self._supervisor, self._server = store, supervisor, server
        if self.cfg.metrics.listen:  # prometheus_client is imported only for a run that serves
            from controlroom.ops.server import MetricsServer

            metrics = MetricsServer(supervisor, self.cfg.metrics.listen)
            try:
                await metrics.start()
            except BaseException:
                await server.close()
                await store.close()
                self._store = self._supervisor = self._server = None
                raise
            self.metrics = metrics
        if self.cfg.notify:  # reading the bus before the first event: orphans are notices too
            self.notifier = Notifier(supervisor, list(self.cfg.notify))
            self.notifier.start()

    async def start(self) -> None:
        """Record the run and spawn the first stage (nothing, if a stop came first)."""
        self.started = True
        stopped_first = self.stop_reason is not None
        await self.supervisor.start(spawn=not stopped_first)
        if stopped_first:  # every agent ends "killed", none was ever spawned
            self._stop_now(self.stop_reason or "stop", grace=None)

    def stop(
        self, reason: str, *, now: bool = False
    ) -> asyncio.Future[dict[str, KillReport | None]] | None:
        """Stop every agent (``now``: SIGKILL, no grace). None before ``start()``: nothing runs."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._supervisor is None or not self.started:
            return None
        return self._stop_now(reason, grace=0.0 if now else None)

    def _stop_now(
        self, reason: str, grace: float | None
    ) -> asyncio.Future[dict[str, KillReport | None]]:
        stopping = self.supervisor.stop_all(by="operator", reason=reason, grace=grace)
        self._stops.add(stopping)
        stopping.add_done_callback(self._stops.discard)
        return stopping

    def unfinished(self) -> int:
        """Agents not yet in a final state (running, pending, gated, …)."""
        if self._supervisor is None or not self.started:
            return 0
        return sum(1 for r in self._supervisor.runners.values() if not r.is_final)

    async def wait(self) -> bool:
        """Until every agent has ended and every kill is recorded; True when all are done."""
        if self._supervisor is None or not self.started:
            return self.stop_reason is None
        return await self._supervisor.wait()

    async def close(self, outcome: str | None = None) -> None:
        """Record how the run ended (``interrupted`` after a signal), release everything.

        Agents still running are stopped first: a run never ends with agents
        running unseen. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._supervisor is not None and self.started:
                if self.unfinished():
                    self._stop_now(self.stop_reason or "closing: stop all", grace=None)
                    await self._supervisor.wait()
                await self._settle_stops()
                if self.notifier is not None:  # its last deliveries are recorded in this run
                    await self.notifier.close()
                if outcome is None and self.interrupted:
                    outcome = "interrupted"
                await self._recording(self._supervisor.close(outcome))
        finally:
            if self.notifier is not None:
                await self.notifier.close(grace=0)
            if self.metrics is not None:
                await self.metrics.close()
            if self._server is not None:
                await self._server.close()
            await self._settle_logs()
            if self._store is not None:
                await self._recording(self._store.close())

    async def _recording(self, step: Awaitable[None]) -> None:
        """A step of the run's end; a log that cannot take it is noted (``audit_failures``)."""
        try:
            await step
        except AuditError as exc:
            self._unwritten.append(str(exc))

    def audit_failures(self) -> list[str]:
        """Why the audit log failed this run (the swarm stopped for it; its end unwritten)."""
        stopped = self._supervisor.guard.stopped_for if self._supervisor is not None else None
        reasons = ([stopped] if stopped else []) + self._unwritten
        # one line each: a reason quoted whole by a later one is said by that one
        return [r for i, r in enumerate(reasons) if not any(r in o for o in reasons[i + 1 :])]

    async def _settle_stops(self) -> None:
        for result in await asyncio.gather(*list(self._stops), return_exceptions=True):
            if isinstance(result, BaseException):
                self._notice(f"stop failed: {result}")

    async def _settle_logs(self) -> None:
        for result in await asyncio.gather(*list(self._logs), return_exceptions=True):
            if isinstance(result, BaseException):
                self._notice(f"log stopped: {result}")

    # ------------------------------------------------------------------ signals

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """While inside: SIGINT/SIGTERM stop the swarm (the first gracefully, then at once)."""
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        first = not self.signals_received
        self.signals_received.append(name)
        reason = f"{name}: stop all" if first else f"{name} again: kill now"
        self._notice(reason)
        self.stop(reason, now=not first)

    def _notice(self, text: str) -> None:
        out = self.notices or sys.stderr
        with contextlib.suppress(OSError, ValueError):
            print(f"controlroom: {text}", file=out, flush=True)

    # ------------------------------------------------------------------ logs

    def log_to(self, stream: TextIO) -> None:
        """From now on, a line per significant committed event into ``stream`` (until close).

        Terminal notices go to stderr when it is a terminal: a headless run's screen.
        """
        if self.notifier is not None and self.notifier.terminal is None:
            self.notifier.terminal = tty_writer(sys.stderr)
        subscription = self.supervisor.bus.subscribe(maxsize=100_000)
        task = asyncio.create_task(write_log(self.supervisor, subscription, stream), name="log")
        self._logs.add(task)


async def write_log(supervisor: Supervisor, subscription: Subscription, stream: TextIO) -> None:
    """The headless log: each significant event as one line, once it is committed.

    While the audit log cannot be written the lines are printed at once, each
    marked ``[unrecorded]``: the operator must see the emergency, and must
    not take those lines for what the log holds.
    """
    while (first := await subscription.get()) is not None:
        batch = [first, *subscription.drain()]
        lines = [format_line(event) for event in batch if worth_a_line(event)]
        if lines:
            try:
                await supervisor.bus.flush()  # print only what is committed…
            except AuditError:  # …or, when the log fails, say that it is not
                lines = [f"{line} {UNRECORDED}" for line in lines]
            stream.write("".join(f"{line}\n" for line in lines))
            stream.flush()
