"""Notifications during real runs: a local aiohttp receiver, real agents, the real audit log.

One notice per gate that waits past its threshold and none for a gate
decided sooner; one for a budget stop; a receiver that hangs or answers 500
delays no kill and no gate decision, and its failures are in the log; a
``command`` gets the notice as JSON on stdin; a webhook URL's token never
reaches the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from clikit import ROOT, controlroom
from swarmkit import EventLog, agent_cmd, audit_rows, sleeper

from controlroom.control.host import SwarmHost
from controlroom.models import (
    AgentSpec,
    Breaker,
    Budget,
    GateRequested,
    KillCompleted,
    NotificationFailed,
    NotifySpec,
    SwarmConfig,
    SwarmSettings,
)
from controlroom.ops.notify.channels import osc_notification
from controlroom.ops.notify.notices import make_notice


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: answers ``status``, or hangs until released."""

    status: int = 200
    hang: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    waiting: int = 0  # requests held open right now
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if self.hang:
            self.waiting += 1
            try:
                await self.release.wait()
            finally:
                self.waiting -= 1
        return web.Response(status=self.status, text="ok" if self.status < 300 else "no")


@asynccontextmanager
async def receiving(status: int = 200, hang: bool = False) -> AsyncIterator[Receiver]:
    receiver = Receiver(status=status, hang=hang)
    app = web.Application()
    app.router.add_post("/hook/{token}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook/T0KEN-s3cret-path"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


@asynccontextmanager
async def hosted(
    tmp_path: Path, agents: list[AgentSpec], notify: list[NotifySpec]
) -> AsyncIterator[tuple[SwarmHost, EventLog]]:
    """A SwarmHost run of ``agents`` with ``notify``; closed (notifier drained) on the way out."""
    cfg = SwarmConfig(
        swarm=SwarmSettings(
            name="notes", audit_db=str(tmp_path / "audit.db"), run_dir=str(tmp_path / "run")
        ),
        agents=agents,
        notify=notify,
    )
    host = SwarmHost(cfg, tmp_path / "audit.db", base_dir=tmp_path)
    await host.open()
    log = EventLog(host.supervisor.bus.subscribe(maxsize=100_000))
    try:
        await host.start()
        yield host, log
    finally:
        await asyncio.wait_for(host.close(), 60)


def notes(tmp_path: Path, host: SwarmHost, kind: str) -> list[dict[str, Any]]:
    return audit_rows(tmp_path / "audit.db", host.supervisor.run_id, kind)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def decide(host: SwarmHost, log: EventLog, agent: str) -> GateRequested:
    gate = await log.until(lambda e: isinstance(e, GateRequested) and e.agent == agent)
    assert isinstance(gate, GateRequested)
    await host.supervisor.decide_gate(gate.gate_id, True, "tester", "fine")
    return gate


async def test_one_notice_per_gate_waiting_past_its_threshold_none_for_one_decided_sooner(
    tmp_path: Path,
) -> None:
    agents = [
        AgentSpec(name="slow", command=agent_cmd("gate_asker", "deploy?")),
        AgentSpec(name="quick", command=agent_cmd("gate_asker", "lint?")),
    ]
    async with receiving() as receiver:
        spec = NotifySpec(
            name="pager",
            events=["gate_waiting"],
            channel="webhook",
            url=receiver.url,
            after_seconds=3.0,
            min_interval_seconds=0,
        )
        async with hosted(tmp_path, agents, [spec]) as (host, log):
            await decide(host, log, "quick")  # well within its 3 s
            await until(lambda: len(receiver.bodies) >= 1)
            await decide(host, log, "slow")
            assert await asyncio.wait_for(host.wait(), 30)
        sent = notes(tmp_path, host, "notification_sent")
    assert [(b["notice"], b["agent"]) for b in receiver.bodies] == [("gate_waiting", "slow")]
    body = receiver.bodies[0]
    assert body["source"] == "controlroom" and body["swarm"] == "notes"
    assert body["run"] == host.supervisor.run_id
    assert body["waited_seconds"] >= 3.0
    assert body["event"]["kind"] == "gate_requested" and body["event"]["title"] == "deploy?"
    assert body["text"].startswith("[notes] slow: gate waiting for ")
    assert [(s["notice"], s["agent"], s["notify"], s["attempts"]) for s in sent] == [
        ("gate_waiting", "slow", "pager", 1)
    ]
    assert sent[0]["about_seq"] == body["seq"] > 0


async def test_a_budget_stop_is_one_notice_in_slack_shape(tmp_path: Path) -> None:
    agents = [
        AgentSpec(
            name="runaway", command=agent_cmd("runaway", "200"), budget=Budget(max_tokens=5_000)
        )
    ]
    async with receiving() as receiver:
        spec = NotifySpec(
            events=["budget_stop", "crash"], channel="webhook", url=receiver.url, format="slack"
        )
        async with hosted(tmp_path, agents, [spec]) as (host, _):
            await asyncio.wait_for(host.wait(), 30)
        sent = notes(tmp_path, host, "notification_sent")
    assert len(receiver.bodies) == 1
    assert list(receiver.bodies[0]) == ["text"]
    assert receiver.bodies[0]["text"].startswith("[notes] runaway: budget stop: budget exceeded")
    assert [(s["notice"], s["notify"]) for s in sent] == [("budget_stop", "notify[0]")]


async def test_a_crash_is_a_notice_and_a_kill_is_not(tmp_path: Path) -> None:
    agents = [AgentSpec(name="crasher", command=agent_cmd("crashes", "3")), sleeper("killed")]
    async with receiving() as receiver:
        spec = NotifySpec(events=["crash"], channel="webhook", url=receiver.url)
        async with hosted(tmp_path, agents, [spec]) as (host, _):
            await until(lambda: host.supervisor.runners["killed"].alive)
            await host.supervisor.kill("killed", by="tester")
            await asyncio.wait_for(host.wait(), 30)
    assert [(b["notice"], b["agent"]) for b in receiver.bodies] == [("crash", "crasher")]
    assert receiver.bodies[0]["event"]["returncode"] == 3


async def test_a_flapping_agent_pages_once_per_kind_then_its_breaker_opens(
    tmp_path: Path,
) -> None:
    breaker = Breaker(restart="on-failure", max_failures=3, backoff_seconds=0)
    agents = [AgentSpec(name="flaky", command=agent_cmd("crashes", "1"), breaker=breaker)]
    async with receiving() as receiver:
        spec = NotifySpec(
            events=["crash", "breaker_open"],
            channel="webhook",
            url=receiver.url,
            min_interval_seconds=600,
        )
        async with hosted(tmp_path, agents, [spec]) as (host, log):
            await asyncio.wait_for(host.wait(), 30)
        exits = log.of("agent_exited", "flaky")
    assert len(exits) == 3  # three crashes…
    assert [b["notice"] for b in receiver.bodies] == ["crash", "breaker_open"]  # …one page each


async def test_a_hanging_or_failing_receiver_delays_no_kill_and_no_gate(tmp_path: Path) -> None:
    agents = [sleeper("victim"), AgentSpec(name="asker", command=agent_cmd("gate_asker"))]
    async with receiving(hang=True) as hanging, receiving(status=500) as failing:
        specs = [
            NotifySpec(
                name="hangs",
                events=["gate_waiting"],
                channel="webhook",
                url=hanging.url,
                timeout_seconds=20,
                retries=0,
            ),
            NotifySpec(
                name="fails",
                events=["gate_waiting"],
                channel="webhook",
                url=failing.url,
                retries=1,
            ),
        ]
        async with hosted(tmp_path, agents, specs) as (host, log):
            sup = host.supervisor
            await until(lambda: hanging.waiting == 1 and sup.runners["victim"].alive)
            report = await sup.kill("victim", by="tester")
            assert hanging.waiting == 1  # the kill ended while the notice still hangs
            await decide(host, log, "asker")
            assert hanging.waiting == 1  # so did the gate decision
            await until(lambda: len(failing.bodies) == 2)  # the first try and one retry
            await until(lambda: bool(notes(tmp_path, host, "notification_failed")))
            hanging.release.set()
        failed = notes(tmp_path, host, "notification_failed")
        sent = notes(tmp_path, host, "notification_sent")
    assert report is not None
    completed = [e for e in log.events if isinstance(e, KillCompleted)]
    assert len(completed) == 1
    assert completed[0].duration_ms < 20_000  # it never waited for the notice's timeout
    assert [(f["notify"], f["attempts"], f["error"]) for f in failed] == [
        ("fails", 2, "HTTP 500 Internal Server Error")
    ]
    assert [s["notify"] for s in sent] == ["hangs"]  # answered once released


FAILS = "import sys; sys.stderr.write('no route\\n'); sys.exit(3)"


async def test_a_command_gets_the_notice_as_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "notice.json"
    write = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"
    specs = [
        NotifySpec(
            events=["swarm_finished"], channel="command", command=[sys.executable, "-c", write]
        ),
        NotifySpec(
            name="broken",
            events=["swarm_finished"],
            channel="command",
            command=[sys.executable, "-c", FAILS],
            retries=0,
        ),
    ]
    agents = [AgentSpec(name="worker", command=agent_cmd("well_behaved", "worker", "0"))]
    async with hosted(tmp_path, agents, specs) as (host, _):
        assert await asyncio.wait_for(host.wait(), 30)
    notice = json.loads(out.read_text())
    assert notice["notice"] == "swarm_finished"
    assert notice["agent"] is None and notice["swarm"] == "notes"
    assert notice["run"] == host.supervisor.run_id
    assert notice["event"]["state"] == "done"
    failed = notes(tmp_path, host, "notification_failed")
    assert [(f["notify"], f["error"]) for f in failed] == [("broken", "exit 3: no route")]
    assert [s["notice"] for s in notes(tmp_path, host, "notification_sent")] == ["swarm_finished"]


async def test_a_webhook_urls_token_never_reaches_the_log(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/hook/T0KEN-s3cret-path?key=an0ther-s3cret"
    specs = [NotifySpec(events=["swarm_finished"], channel="webhook", url=dead, retries=0)]
    agents = [AgentSpec(name="worker", command=agent_cmd("well_behaved", "worker", "0"))]
    async with hosted(tmp_path, agents, specs) as (host, _):
        await asyncio.wait_for(host.wait(), 30)
    (failed,) = notes(tmp_path, host, "notification_failed")
    assert failed["target"] == "http://127.0.0.1:9"
    assert "Cannot connect" in failed["error"] or "refused" in failed["error"]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    assert b"T0KEN-s3cret-path" not in raw and b"an0ther-s3cret" not in raw


def test_terminal_notices_are_osc_sequences_with_inert_text() -> None:
    from controlroom.models import StatusEvent

    event = StatusEvent(agent="evil", text="done\x07\x1b]52;c;cGF3bmVk\x07", seq=3)
    notice = make_notice("s;w", "r1", "crash", event)
    osc9 = osc_notification(NotifySpec(events=["crash"], channel="terminal"), notice)
    osc777 = osc_notification(
        NotifySpec(events=["crash"], channel="terminal", format="osc777"), notice
    )
    for sequence in (osc9, osc777):
        inner = sequence[2:-1]
        assert "\x07" not in inner and "\x1b" not in inner
        assert sequence.endswith("\x07")
    assert osc9.startswith("\x1b]9;[s;w] evil: crash: status: done")
    assert osc777.startswith("\x1b]777;notify;controlroom s,w;[s;w] evil: crash")



def test_the_dashboard_sends_a_terminal_notice_through_its_own_terminal(tmp_path: Path) -> None:
    """A real dashboard on a real pty: the OSC 9 sequence arrives in its output, and is logged."""
    config = tmp_path / "config.toml"
    worker = json.dumps(agent_cmd("well_behaved", "worker", "0"))
    config.write_text(
        "[swarm]\nname = \"term\"\naudit_db = \"audit.db\"\n\n"
        f"[[agents]]\nname = \"worker\"\ncommand = {worker}\n\n"
        "[[notify]]\nevents = [\"swarm_finished\"]\nchannel = \"terminal\"\n"
    )
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(config)],
        cwd=tmp_path,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"\x1b]9;[term] swarm finished" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(primary, 65536)
                except OSError:
                    break
        os.write(primary, b"q")
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:  # read: a full pty blocks it
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    seen += os.read(primary, 65536)
        assert proc.poll() == 0  # quit cleanly: the run is over
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(primary)
    assert b"\x1b]9;[term] swarm finished: " in seen
    sequence = seen[seen.index(b"\x1b]9;") :].split(b"\x07")[0]
    assert b"\x1b" not in sequence[1:]
    sent = sqlite3.connect(tmp_path / "audit.db").execute(
        "SELECT json_extract(payload, '$.channel') FROM events WHERE kind = 'notification_sent'"
    ).fetchall()
    assert sent == [("terminal",)]


def test_check_lists_who_is_told_what_without_a_webhooks_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[swarm]\nname = \"t\"\n\n[metrics]\nlisten = \"127.0.0.1:9464\"\n\n"
        "[[notify]]\nname = \"pager\"\nevents = [\"gate_waiting\", \"budget_stop\"]\n"
        "after_seconds = 300\nchannel = \"webhook\"\n"
        "url = \"https://hooks.example.com/services/${HOOK}\"\nformat = \"slack\"\n\n"
        "[[notify]]\nevents = [\"crash\"]\nchannel = \"terminal\"\n"
    )
    done = controlroom("check", str(config), cwd=tmp_path, env={"HOOK": "T0KEN-s3cret"})
    assert done.returncode == 0, done.stderr
    assert "metrics      http://127.0.0.1:9464/metrics" in done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
    assert ["pager", "webhook", "https://hooks.example.com", "gate_waiting", "after", "5m,",
            "budget_stop", "1m"] in rows
    assert ["notify[1]", "terminal", "osc9", "crash", "1m"] in rows
    assert "T0KEN-s3cret" not in done.stdout


def test_the_dashboard_toasts_a_notification_that_did_not_get_through() -> None:
    from controlroom.tui.alerts import alert_for

    failed = NotificationFailed(
        notify="pager", notice="budget_stop", channel="webhook", target="https://hooks.example.com",
        attempts=3, error="HTTP 500 Internal Server Error", agent="runaway",
    )
    alert = alert_for(failed)
    assert alert is not None and alert.severity == "warning"
    assert alert.title == "Notification failed"
    assert alert.message == (
        "runaway: notification of budget_stop by webhook https://hooks.example.com FAILED after "
        "3 attempts (pager): HTTP 500 Internal Server Error"
    )
