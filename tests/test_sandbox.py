"""Sandboxed agents (bubblewrap), written as the agent trying to get out.

Each test runs a real agent under a real supervisor with ``sandbox =
"workspace"``; the agent tries what a hostile or careless one would (read
the operator's keys, write outside its workspace, reach a port on the host,
read the audit database, move itself out of its cgroup, reach a host it was
not given) and reports what happened; the test checks that against the
world outside (files, servers' logs, the audit log). The operator's home and
the project live under /var/tmp, on the real root file system, so only the
sandbox (not its private /tmp) hides them. Skipped, with the reason, where
bubblewrap cannot run and ``CI`` is unset.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import controlroom
from swarmkit import audit_rows, swarm

from controlroom.models import AgentSpec, AgentState, Breaker, ProxySettings
from controlroom.process.sandbox import probe_bwrap
from controlroom.sim import Script, SimServer, Turn

pytestmark = pytest.mark.timeout(120)

_OK, _WHY = probe_bwrap()
if not _OK:
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the sandbox tests: {_WHY}")
    pytest.skip(f"no sandbox here: {_WHY}", allow_module_level=True)


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory on the real root file system (not /tmp, which a sandbox has its own of)."""
    path = Path(tempfile.mkdtemp(prefix="controlroom-sandbox-test-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def probe(code: str) -> list[str]:
    """A native agent that runs ``code`` (which fills ``seen``) and reports ``seen``."""
    body = (
        "import json, os, socket, sys, urllib.request\n"
        "seen = {}\n"
        "def attempt(name, fn):\n"
        "    try:\n"
        "        seen[name] = fn()\n"
        "    except Exception as exc:\n"
        "        seen[name] = f'{type(exc).__name__}: {exc}'\n"
        f"{code}\n"
        "print(json.dumps({'type': 'status', 'text': 'seen', 'seen': seen}), flush=True)\n"
    )
    return [sys.executable, "-c", body]


def sandboxed(name: str, code: str, **kwargs: Any) -> AgentSpec:
    return AgentSpec(
        name=name,
        command=probe(code),
        sandbox="workspace",
        breaker=Breaker(restart="never"),
        **kwargs,
    )


async def seen_by(s: Any, agent: str) -> dict[str, Any]:
    status = await s.log.status(agent, "seen", timeout=60)
    result: dict[str, Any] = status.extra["seen"]
    return result


def environ(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}


# --------------------------------------------------------------------------- the walls


async def test_a_sandboxed_agent_sees_no_home_no_audit_log_and_writes_only_its_workspace(
    outside: Path,
) -> None:
    home = outside / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    project = outside / "project"
    project.mkdir()
    (project / "notes.txt").write_text("the agent's own file")
    for git in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "base"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *git], cwd=outside)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.01)
    port = listener.getsockname()[1]
    code = f"""
attempt("key", lambda: open({str(home / ".ssh" / "id_ed25519")!r}).read())
attempt("home", lambda: os.listdir({str(home)!r}))
attempt("own", lambda: open("notes.txt").read())
attempt("write_here", lambda: open("made.txt", "w").write("made") and "ok")
attempt("write_there", lambda: open({str(outside / "escaped.txt")!r}, "w").write("x"))
attempt("audit", lambda: len(open({str(outside / "audit.db")!r}, "rb").read()))
attempt("runs", lambda: sorted(os.listdir({str(outside / "run")!r})))
attempt("worktrees", lambda: os.listdir({str(outside / "run" / "worktrees")!r}))
attempt("handoff", lambda: json.loads(open(os.environ["CONTROLROOM_HANDOFF_FILE"]).read()))
attempt("host_port", lambda: socket.create_connection(("127.0.0.1", {port}), 2) and "connected")
attempt("internet", lambda: socket.create_connection(("1.1.1.1", 443), 2) and "connected")
attempt("cgroup", lambda: open("/sys/fs/cgroup/cgroup.procs", "w").write("0") and "moved")
attempt("pid", lambda: os.getpid())
"""
    hand = 'print(json.dumps({"type": "handoff", "changed": "c", "next_needs": "n", "risks": "r"}))'
    agents = [
        AgentSpec(name="other", command=probe(hand), workspace="worktree"),  # runs first
        sandboxed("boxed", code, workspace=str(project), after=["other"]),
    ]
    try:
        async with swarm(outside, agents, environ=environ(home)) as s:
            seen = await seen_by(s, "boxed")
            assert await s.wait(30) is True
    finally:
        accepted = _accepted(listener)
        listener.close()
    assert seen["key"].startswith("FileNotFoundError")
    assert seen["home"] == []
    assert seen["own"] == "the agent's own file"
    assert seen["write_here"] == "ok" and (project / "made.txt").read_text() == "made"
    assert seen["write_there"].startswith("OSError: [Errno 30] Read-only file system")
    assert not (outside / "escaped.txt").exists()
    assert seen["audit"].startswith("PermissionError")  # a device it may not open is there
    assert list((outside / "run" / "worktrees").iterdir())  # the other's worktree is there...
    assert seen["runs"] == ["handoffs"]  # ...but not seen: only its own handoff file
    assert seen["worktrees"].startswith("FileNotFoundError")
    assert '"changed": "c"' in json.dumps(seen["handoff"])  # its own handoff, read
    assert seen["host_port"].startswith("ConnectionRefusedError") and accepted == 0
    assert seen["internet"].startswith("OSError: [Errno 101] Network is unreachable")
    assert seen["cgroup"].startswith("OSError: [Errno 30] Read-only file system")
    assert seen["pid"] < 10  # its own PID namespace
    assert s.sup.runners["boxed"].state == AgentState.DONE
    (spawned,) = [r for r in audit_rows(s.db, s.run_id, "agent_spawned") if r["agent"] == "boxed"]
    assert spawned["sandbox"] == "workspace" and "--unshare-net" in spawned["argv"]


def _accepted(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return count
        conn.close()
        count += 1


async def test_without_bubblewrap_a_sandboxed_agent_does_not_start_at_all(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = outside / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    marker = outside / "ran"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    async with swarm(outside, [sandboxed("boxed", code)], environ=environ(outside)) as s:
        assert await s.wait(30) is False
    assert not marker.exists()  # it never ran, sandboxed or not
    (crashed,) = audit_rows(s.db, s.run_id, "agent_crashed")
    assert crashed["reason"] == (
        "agent 'boxed': sandbox = \"workspace\" but "
        f"{fake / 'bwrap'} cannot create namespaces: bwrap: No permissions to create new namespace"
    )
    assert audit_rows(s.db, s.run_id, "agent_spawned") == []


# --------------------------------------------------------------------------- the roads out


async def test_the_model_is_reached_through_the_bridge_at_the_same_url(outside: Path) -> None:
    code = """
import anthropic
client = anthropic.Anthropic(max_retries=0)
reply = client.messages.create(
    model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
)
seen["text"] = reply.content[0].text
seen["usage"] = [reply.usage.input_tokens, reply.usage.output_tokens]
seen["url"] = os.environ["ANTHROPIC_BASE_URL"]
"""
    with SimServer(Script([Turn.say("hello from the sim")])) as sim:
        env = environ(outside, ANTHROPIC_BASE_URL=sim.url, ANTHROPIC_API_KEY="sk-ant-test-x")
        spec = sandboxed("boxed", code, env=["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"])
        async with swarm(outside, [spec], environ=env) as s:
            seen = await seen_by(s, "boxed")
            assert await s.wait(30) is True
        assert seen["text"] == "hello from the sim" and seen["url"] == sim.url
        assert seen["usage"] == [sim.input_tokens, sim.output_tokens] and sim.requests == 1


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = f"hello from {self.server.server_address[0]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _serve(address: str) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((address, 0), _Hello)
    server.hits = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def test_egress_reaches_an_allowed_host_only_and_every_attempt_is_audited(
    outside: Path,
) -> None:
    allowed, other = _serve("127.0.0.2"), _serve("127.0.0.3")
    a_port, o_port = allowed.server_address[1], other.server_address[1]
    code = f"""
import http.client
def get(url):
    return urllib.request.urlopen(url, timeout=10).read().decode()
def tunnel(host, port):
    conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1]))
    conn.set_tunnel(host, port)
    conn.request("GET", "/tunnelled")
    return conn.getresponse().read().decode()
attempt("allowed", lambda: get("http://127.0.0.2:{a_port}/plain"))
attempt("other", lambda: get("http://127.0.0.3:{o_port}/plain"))
attempt("allowed_tunnel", lambda: tunnel("127.0.0.2", {a_port}))
attempt("other_tunnel", lambda: tunnel("127.0.0.3", {o_port}))
attempt("direct", lambda: socket.create_connection(("127.0.0.2", {a_port}), 2) and "connected")
"""
    try:
        spec = sandboxed("boxed", code, allow_hosts=["127.0.0.2"])
        async with swarm(outside, [spec], environ=environ(outside)) as s:
            seen = await seen_by(s, "boxed")
            assert await s.wait(30) is True
    finally:
        for server in (allowed, other):
            server.shutdown()
            server.server_close()
    assert seen["allowed"] == seen["allowed_tunnel"] == "hello from 127.0.0.2"
    assert seen["other"].startswith("HTTPError: HTTP Error 403")
    assert seen["other_tunnel"].startswith("OSError: Tunnel connection failed: 403")
    assert seen["direct"].startswith("ConnectionRefusedError")  # its own loopback, not ours
    assert allowed.hits == ["/plain", "/tunnelled"]  # type: ignore[attr-defined]
    assert other.hits == []  # type: ignore[attr-defined]
    egress = [
        (e["host"], e["port"], e["method"], e["allowed"], e["reason"])
        for e in audit_rows(s.db, s.run_id, "egress")
    ]
    assert egress == [
        ("127.0.0.2", a_port, "GET", True, ""),
        ("127.0.0.3", o_port, "GET", False, "not in allow_hosts"),
        ("127.0.0.2", a_port, "CONNECT", True, ""),
        ("127.0.0.3", o_port, "CONNECT", False, "not in allow_hosts"),
    ]
    assert {e["agent"] for e in audit_rows(s.db, s.run_id, "egress")} == {"boxed"}
    timeline = controlroom("audit", "timeline", "boxed", "--db", str(s.db), cwd=outside)
    assert f"egress GET 127.0.0.3:{o_port} REFUSED: not in allow_hosts" in timeline.stdout
    assert f"egress CONNECT 127.0.0.2:{a_port} allowed" in timeline.stdout


async def test_a_sandboxed_agent_is_still_killed_whole(outside: Path) -> None:
    code = """
import subprocess, time
children = [subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(3)]
print(json.dumps({"type": "status", "text": "sleepers"}), flush=True)
time.sleep(60)
"""
    spec = sandboxed("boxed", code)
    async with swarm(outside, [spec], environ=environ(outside)) as s:
        await s.log.status("boxed", "sleepers", timeout=60)
        report = await asyncio.wait_for(s.sup.kill("boxed", by="test"), 15)
        assert report is not None and report.survivors == 0
        # bwrap, its init, the bridge, the agent and its three sleepers
        assert report.processes >= 6
        cgroup = s.spawned("boxed")[0].cgroup
        if cgroup:
            assert open(f"{cgroup}/cgroup.procs").read() == ""


def test_allow_hosts_binds_and_tools_need_the_sandbox_and_are_checked(tmp_path: Path) -> None:
    from controlroom._errors import ConfigError
    from controlroom.config import load_config

    config = tmp_path / "config.toml"
    config.write_text(
        '[[agents]]\nname = "a"\ncommand = ["true"]\nallow_hosts = ["pypi.org"]\n\n'
        '[[agents]]\nname = "b"\ncommand = ["true"]\nsandbox = "workspace"\n'
        'allow_hosts = ["pypi.org:443", "bad host", "[::1]:8080"]\n'
        'binds = ["/nonexistent/x", "~:rw", "/usr:rw"]\ntools = ["node", "bin/git"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ={"HOME": str(tmp_path)})
    assert [str(p) for p in raised.value.problems] == [
        f'{config}:4: agents[0].allow_hosts: has no effect without sandbox = "workspace"',
        f"{config}:10: agents[1].allow_hosts[1]: 'bad host' is not a host name or address",
        f"{config}:11: agents[1].binds[0]: no such file or directory: /nonexistent/x",
        f"{config}:12: agents[1].tools[1]: 'bin/git' is not a program name (no '/')",
    ]
    config.write_text(
        '[[agents]]\nname = "b"\ncommand = ["true"]\nsandbox = "workspace"\n'
        'binds = ["~/cache:rw", "/usr/share"]\n'
    )
    (tmp_path / "cache").mkdir()
    spec = load_config(config, environ={"HOME": str(tmp_path)}).agents[0]
    assert spec.binds == [f"{tmp_path}/cache:rw", "/usr/share:ro"]


def test_check_says_whether_the_sandbox_can_be_made(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[agents]]\nname = "b"\ncommand = ["true"]\nsandbox = "workspace"\n'
    )
    done = controlroom("check", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"sandbox (b): {_WHY}"
    done = controlroom("check", cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        "sandbox (b): refused: bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    )
    record = json.loads(controlroom("check", "--format", "jsonl", cwd=tmp_path).stdout)
    assert (
        record["containment"]["sandboxed"] == ["b"]
        and record["agents"][0]["sandbox"] == "workspace"
    )


async def test_through_the_metering_proxy_s_unix_socket_the_meter_is_exact(outside: Path) -> None:
    code = """
import anthropic
client = anthropic.Anthropic(
    base_url=os.environ["CONTROLROOM_MODEL_URL"], api_key="unused", max_retries=0
)
for _ in range(2):
    reply = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=60, messages=[{"role": "user", "content": "hi"}]
    )
seen["text"] = reply.content[0].text
seen["socket"] = os.environ["CONTROLROOM_MODEL_SOCKET"]
"""
    with SimServer(Script([Turn.say("one")]), api_key=None) as sim:
        spec = sandboxed("boxed", code)
        proxy = ProxySettings(upstream=sim.url)
        async with swarm(outside, [spec], environ=environ(outside), proxy=proxy) as s:
            seen = await seen_by(s, "boxed")
            assert await s.wait(30) is True
            meter = s.sup.governor.meters.agent("boxed")
            socket_path = str(s.sup.metering.proxy.unix_path)
            port = s.sup.metering.proxy.bound_port
        spawned = s.spawned("boxed")[0]
    assert seen["text"] == "one"  # the same question twice: the same turn
    assert seen["socket"] == f"/tmp/.controlroom/model-{port}.sock"  # the proxy's, inside
    assert socket_path in spawned.argv  # bridged straight to the proxy's own socket
    served = sim.ledger()
    assert sim.requests == 2
    assert (meter.input_tokens, meter.output_tokens) == (served.input_tokens, served.output_tokens)
