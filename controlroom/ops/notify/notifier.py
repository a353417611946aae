"""The notifier: reads the bus, decides, and delivers off the supervisor's path.

Nothing here runs on the supervisor's path: events reach the notifier
through a bounded bus subscription (a notifier that falls behind loses the
oldest events, never slows a publisher), and each ``[[notify]]`` entry has
its own bounded queue and worker task, so a webhook that hangs holds up
only its own later notices, never an agent, a kill, a gate or another
channel. Each delivery gets ``timeout_seconds`` per attempt and up to
``retries`` more attempts with a doubling pause; its outcome is an audit
event (``notification_sent`` or ``notification_failed``).

``gate_waiting`` is a timer per gate and entry, armed when the gate is
requested: when it fires and the gate is still pending, the notice goes
out. ``swarm_finished`` goes once, when every agent has ended. At close,
the queues get ``CLOSE_GRACE_SECONDS`` to drain (the run's last notice, a
``swarm_finished``, usually among them); what is still in flight then is
cancelled and recorded as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp

from controlroom._errors import ControlError
from controlroom.models import (
    AgentExited,
    AgentStateChanged,
    EventBase,
    GateRequested,
    Notice,
    NotificationFailed,
    NotificationSent,
    NotifyEventName,
    NotifySpec,
)
from controlroom.ops.notify.channels import (
    DeliveryError,
    TerminalSink,
    osc_notification,
    post_webhook,
    run_command,
)
from controlroom.ops.notify.notices import Quiet, make_notice, notice_of
from controlroom.swarm.bus import Subscription
from controlroom.swarm.supervisor import Supervisor

__all__ = ["CLOSE_GRACE_SECONDS", "QUEUE_SIZE", "Notifier", "TerminalSink"]

QUEUE_SIZE = 100
"""Notices waiting per entry; past it a notice is dropped, and the drop recorded."""

CLOSE_GRACE_SECONDS = 10.0
"""How long a closing run waits for notices still queued or in flight."""

BACKOFF_SECONDS = 0.5


@dataclass
class _Entry:
    index: int
    spec: NotifySpec
    name: str
    queue: asyncio.Queue[Notice] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class Notifier:
    """Delivers the ``[[notify]]`` entries of one run."""

    def __init__(self, supervisor: Supervisor, specs: list[NotifySpec]) -> None:
        self.sup = supervisor
        self.entries = [_Entry(i, s, s.name or f"notify[{i}]") for i, s in enumerate(specs)]
        self.terminal: TerminalSink | None = None  # the dashboard's terminal, when one runs
        self._quiet = Quiet()
        self._finished = False
        self._timers: list[asyncio.TimerHandle] = []
        self._sub: Subscription | None = None
        self._watch: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    def start(self) -> None:
        """Subscribe to the bus and start one worker per entry (before any agent starts)."""
        self._sub = self.sup.bus.subscribe(maxsize=10_000)
        self._watch = asyncio.create_task(self._read(self._sub), name="notify: watch")
        self._workers = [
            asyncio.create_task(self._work(entry), name=f"notify: {entry.name}")
            for entry in self.entries
        ]

    # ------------------------------------------------------------------ deciding

    async def _read(self, sub: Subscription) -> None:
        while (event := await sub.get()) is not None:
            self.see(event)

    def see(self, event: EventBase) -> None:
        """One event from the bus: a notice now, a gate timer, or nothing."""
        if isinstance(event, GateRequested):
            self._arm(event)
        elif isinstance(event, AgentStateChanged):
            self._maybe_finished(event)
        elif isinstance(event, AgentExited):
            self._maybe_crashed(event)
        else:
            notice = notice_of(event)
            if notice is not None:
                self._offer(notice, event)

    def _arm(self, event: GateRequested) -> None:
        loop = asyncio.get_running_loop()
        for entry in self.entries:
            if "gate_waiting" in entry.spec.events:
                delay = entry.spec.after_seconds
                self._timers.append(loop.call_later(delay, self._gate_due, entry, event))

    def _gate_due(self, entry: _Entry, event: GateRequested) -> None:
        try:
            gate = self.sup.gates.get(event.gate_id)
        except ControlError:
            return
        if gate.decision is None:
            self._offer("gate_waiting", event, waited=gate.age(), only=entry)

    def _maybe_crashed(self, event: AgentExited) -> None:
        """A failed exit nobody asked for is a crash (a kill or a budget stop is not).

        Stops mark the runner before the first signal, so its exit is seen
        with ``stop_state`` set; the notifier reads within a loop turn or two,
        long before a restart could clear it.
        """
        runner = self.sup.runners.get(event.agent or "")
        if not event.success and runner is not None and runner.stop_state is None:
            self._offer("crash", event)

    def _maybe_finished(self, event: AgentStateChanged) -> None:
        runners = self.sup.runners.values()
        if self._finished or not runners or not all(r.is_final for r in runners):
            return
        self._finished = True
        self._offer("swarm_finished", event.model_copy(update={"agent": None}))

    def _offer(
        self,
        notice: NotifyEventName,
        event: EventBase,
        waited: float | None = None,
        only: _Entry | None = None,
    ) -> None:
        now = time.monotonic()
        cfg = self.sup.config
        for entry in self.entries if only is None else [only]:
            spec = entry.spec
            if notice not in spec.events:
                continue
            interval = spec.min_interval_seconds
            if not self._quiet.allows(entry.index, notice, event.agent, now, interval):
                continue
            body = make_notice(cfg.swarm.name, self.sup.run_id, notice, event, waited)
            try:
                entry.queue.put_nowait(body)
            except asyncio.QueueFull:
                self._record(entry, body, 0, 0.0, f"dropped: {QUEUE_SIZE} notices already waiting")

    # ------------------------------------------------------------------ delivering

    async def _work(self, entry: _Entry) -> None:
        while True:
            notice = await entry.queue.get()
            try:
                await self._deliver(entry, notice)
            finally:
                entry.queue.task_done()

    async def _deliver(self, entry: _Entry, notice: Notice) -> None:
        spec = entry.spec
        started = time.monotonic()
        error = ""
        attempt = 0
        try:
            for attempt in range(1, spec.retries + 2):  # noqa: B007 (the count is recorded)
                try:
                    await asyncio.wait_for(self._send(spec, notice), spec.timeout_seconds)
                    error = ""
                    break
                except TimeoutError:
                    error = f"timed out after {spec.timeout_seconds:g}s"
                except DeliveryError as exc:
                    error = str(exc)
                except Exception as exc:  # a channel's surprise fails this notice, not the worker
                    error = f"{type(exc).__name__}: {exc}"
                if attempt <= spec.retries:
                    await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        except asyncio.CancelledError:
            error = (error + "; " if error else "") + "cancelled: the run ended"
            self._record(entry, notice, attempt, started, error)
            raise
        self._record(entry, notice, attempt, started, error)

    async def _send(self, spec: NotifySpec, notice: Notice) -> None:
        if spec.channel == "webhook":
            if self._http is None:
                self._http = aiohttp.ClientSession()
            await post_webhook(self._http, spec, notice)
        elif spec.channel == "command":
            await run_command(spec, notice)
        else:
            self._to_terminal(osc_notification(spec, notice))

    def _to_terminal(self, sequence: str) -> None:
        if self.terminal is None:
            raise DeliveryError("no terminal: neither a dashboard nor a headless log on a tty")
        try:
            self.terminal(sequence)
        except Exception as exc:
            raise DeliveryError(str(exc)) from None

    def _record(
        self, entry: _Entry, notice: Notice, attempts: int, started: float, error: str
    ) -> None:
        spec = entry.spec
        sent = NotificationSent(
            agent=notice.agent,
            notify=entry.name,
            notice=notice.notice,
            channel=spec.channel,
            target=spec.target,
            attempts=attempts,
            duration_ms=round((time.monotonic() - started) * 1000, 3) if started else 0.0,
            about_seq=notice.seq,
        )
        event: EventBase = sent
        if error:
            event = NotificationFailed(**sent.model_dump(exclude={"kind", "ts"}), error=error)
        with contextlib.suppress(Exception):  # a closed log says so itself (the audit guard)
            self.sup.publish(event)

    # ------------------------------------------------------------------ closing

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Stop reading; give queued and in-flight notices ``grace`` seconds; cancel the rest.

        Idempotent: the second call finds nothing left to do.
        """
        if self._closed:
            return
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        if self._sub is not None:
            self._sub.close()
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)
        drained = asyncio.gather(*(entry.queue.join() for entry in self.entries))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained, grace)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for entry in self.entries:  # never started: said so, not silently lost
            while not entry.queue.empty():
                left = entry.queue.get_nowait()
                self._record(entry, left, 0, 0.0, "cancelled: the run ended before it was sent")
        if self._http is not None:
            await self._http.close()

