"""The run's sandboxes: each sandboxed agent's launch plan wrapped in bubblewrap, and its roads out.

For an agent with ``sandbox = "workspace"`` the launch plan (``launch.py``)
is turned into a ``bwrap`` command (``process/sandbox.py``) and, outside, the
unix sockets its bridge leads to are opened before it starts: the model's
(forwarded to the loopback ``ANTHROPIC_BASE_URL`` the agent was given, so
that URL works unchanged inside) and, with ``allow_hosts``, its own egress
proxy's (``process/egress.py``), announced as ``HTTPS_PROXY``/``HTTP_PROXY``.
What the sandbox hides comes from the run: the operator's home and the
agent's, the run directory (other agents' worktrees, the operator's control
socket), the host's service sockets (``/run``, ``$XDG_RUNTIME_DIR``), the
audit database and the anchor file. A sandbox that cannot be made fails the
agent's start: it never runs unsandboxed instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from controlroom._errors import AgentError
from controlroom.models import AgentSpec, EventBase
from controlroom.process.bridge import serve_unix_to_tcp
from controlroom.process.egress import EgressProxy
from controlroom.process.sandbox import (
    INSIDE,
    Forward,
    SandboxPlan,
    bwrap_argv,
    find_bwrap,
    probe_bwrap,
    resolve_tools,
)
from controlroom.swarm.launch import LaunchPlan

__all__ = ["Sandboxes"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MODEL_URLS = ("ANTHROPIC_BASE_URL", "CONTROLROOM_MODEL_URL")  # the metering proxy sets both
_EGRESS_PORTS = (3128, 3129)  # inside the sandbox; the second if the model's port is the first


class Sandboxes:
    """Wraps sandboxed agents' launch plans; owns the sockets and proxies they lead to."""

    def __init__(
        self,
        *,
        run_dir: Path,
        hidden_files: list[str],
        publish: Callable[[EventBase], None],
    ) -> None:
        self.run_dir = run_dir
        self.hidden_files = hidden_files
        self.publish = publish
        self._probe: tuple[bool, str] | None = None
        self._dir: str | None = None
        self._open: dict[str, list[asyncio.Server | EgressProxy]] = {}
        self._model_routes: dict[int, str] = {}  # loopback port -> the proxy's unix socket

    def route_model(self, port: int, socket: str) -> None:
        """The metering proxy listens on ``127.0.0.1:port`` and on unix socket ``socket``.

        A sandboxed agent whose ``ANTHROPIC_BASE_URL`` names that port is then
        bridged straight to the proxy's socket (nothing of ours in between);
        any other loopback base URL gets a forwarder of ours to its port.
        """
        self._model_routes[port] = socket

    def probe(self) -> tuple[bool, str]:
        """Whether bubblewrap works here (asked once per run), and what it is or why not."""
        if self._probe is None:
            self._probe = probe_bwrap()
        return self._probe

    async def wrap(self, spec: AgentSpec, plan: LaunchPlan) -> LaunchPlan:
        """The plan as it runs sandboxed, with its sockets listening; unchanged if not sandboxed."""
        if spec.sandbox != "workspace":
            return plan
        ok, why = await asyncio.to_thread(self.probe)
        bwrap = find_bwrap()
        if not ok or bwrap is None:
            raise AgentError(f'agent {spec.name!r}: sandbox = "workspace" but {why}')
        await self.release(spec.name)  # a restart: the last attempt's sockets go
        # hidden only if it exists: made later, the read-only root would show it
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(plan.env)
        forwards = await self._model_forward(spec.name, env)
        if spec.allow_hosts:
            taken = {f.port for f in forwards}
            port = next(p for p in _EGRESS_PORTS if p not in taken)
            forwards.append(await self._egress(spec, port))
            proxy_url = f"http://127.0.0.1:{port}"
            for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
                env[key] = proxy_url
            env["NO_PROXY"] = env["no_proxy"] = ",".join(_LOOPBACK)
        sandbox = SandboxPlan(
            workspace=str(plan.cwd),
            homes=_homes(env),
            hidden_dirs=[str(self.run_dir), *_service_dirs()],
            hidden_files=self.hidden_files,
            ro_binds=[
                *_own_files(plan, env),
                *resolve_tools(spec.tools, env.get("PATH", os.defpath)),
                *(b[:-3] for b in spec.binds if b.endswith(":ro")),
            ],
            rw_binds=[b[:-3] for b in spec.binds if b.endswith(":rw")],
            forwards=forwards,
        )
        argv = bwrap_argv(sandbox, plan.argv, bwrap=bwrap)
        return LaunchPlan(argv=argv, cwd=plan.cwd, env=env, handoff_text=plan.handoff_text)

    async def _model_forward(self, agent: str, env: dict[str, str]) -> list[Forward]:
        """The roads to the model: each loopback model URL's port, kept as it is inside."""
        forwards: dict[int, Forward] = {}
        for key in _MODEL_URLS:
            url = urlsplit(env.get(key, ""))
            port = url.port if url.scheme == "http" and url.hostname in _LOOPBACK else None
            if port is None or port in forwards:
                continue
            if port in self._model_routes:  # the metering proxy's own socket
                forwards[port] = Forward(port, self._model_routes[port], f"model-{port}.sock")
                if env.get("CONTROLROOM_MODEL_SOCKET") == self._model_routes[port]:
                    env["CONTROLROOM_MODEL_SOCKET"] = f"{INSIDE}/model-{port}.sock"
                continue
            path = self._socket(agent, f"model-{port}")
            server = await serve_unix_to_tcp(path, str(url.hostname), port)
            self._open.setdefault(agent, []).append(server)
            forwards[port] = Forward(port, path, f"model-{port}.sock")
        return list(forwards.values())

    async def _egress(self, spec: AgentSpec, port: int) -> Forward:
        path = self._socket(spec.name, "egress")
        proxy = EgressProxy(spec.name, spec.allow_hosts, self.publish)
        await proxy.start(path)
        self._open.setdefault(spec.name, []).append(proxy)
        return Forward(port, path, "egress.sock")

    def _socket(self, agent: str, what: str) -> str:
        """A short path (unix socket paths are capped at 108 bytes), private to this run."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="controlroom-sandbox-")
        path = os.path.join(self._dir, f"{agent}.{what}.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return path

    async def release(self, agent: str) -> None:
        for opened in self._open.pop(agent, []):
            if isinstance(opened, EgressProxy):
                await opened.close()
            else:
                opened.close()
                await opened.wait_closed()

    async def close(self) -> None:
        for agent in list(self._open):
            await self.release(agent)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _service_dirs() -> list[str]:
    """Where the host's services listen: ``/run`` and the operator's runtime directory.

    A unix socket on a read-only mount can still be connected to, and some of
    those run a command for whoever connects (systemd's user and system
    managers, D-Bus, Docker): a command started outside the agent's tree,
    cgroup and marker, which the operator's channel would take for the
    operator. So they are hidden, like the run directory.
    """
    found = ["/run", os.environ.get("XDG_RUNTIME_DIR", "")]
    return sorted({os.path.realpath(d) for d in found if d and os.path.isdir(d)})


def _homes(env: dict[str, str]) -> list[str]:
    """The homes to replace: the agent's ``HOME`` and the operator's own (never ``/``)."""
    found = [env.get("HOME", ""), os.path.expanduser("~")]
    return sorted({os.path.realpath(h) for h in found if h and os.path.realpath(h) != "/"})


def _own_files(plan: LaunchPlan, env: dict[str, str]) -> list[str]:
    """This agent's files in the hidden run directory: handoff, hook settings, control socket."""
    files = [env.get("CONTROLROOM_HANDOFF_FILE", ""), env.get("CONTROLROOM_SOCKET", "")]
    if "--settings" in plan.argv[:-1]:
        files.append(plan.argv[plan.argv.index("--settings") + 1])
    return [f for f in files if f]
