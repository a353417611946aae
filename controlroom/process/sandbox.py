"""A sandbox per agent (bubblewrap): its workspace writable, the rest read-only, no network.

``sandbox = "workspace"`` runs the agent under ``bwrap`` with: the root file
system bound read-only (``/sys/fs/cgroup`` with it, so the agent cannot move
itself out of its cgroup); its workspace bound read-write; a private
``/tmp`` and an empty private ``HOME`` over the operator's (``~/.ssh``,
``~/.aws`` and the rest invisible); the run directory (other agents'
worktrees, handoffs, sockets) hidden under an empty tmpfs, with only this
agent's own files bound back read-only; the audit database and the anchor
file hidden behind ``/dev/null``; a new PID namespace; ``--die-with-parent``;
and ``--unshare-net``: no network at all but the sandbox's own loopback. The
only way out is the bridge (``bridge.py``), run first inside, which listens
on 127.0.0.1 ports and forwards each to a unix socket bound in from outside:
the model's (so ``ANTHROPIC_BASE_URL`` works unchanged) and, with
``allow_hosts``, the egress proxy's (``egress.py``).

Anthropic's sandbox-runtime is the model: bubblewrap, ``--unshare-net`` and a
bridge to a filtering proxy over a unix socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controlroom.process import bridge

__all__ = [
    "INSIDE",
    "Forward",
    "SandboxPlan",
    "bwrap_argv",
    "find_bwrap",
    "probe_bwrap",
    "resolve_tools",
]

INSIDE = "/tmp/.controlroom"
"""Where the bridge and the sockets appear inside the sandbox (in its private /tmp)."""


@dataclass(frozen=True)
class Forward:
    """A port on the sandbox's 127.0.0.1 that leads to the unix socket ``socket`` outside."""

    port: int
    socket: str
    name: str  # the socket's file name inside ``INSIDE``


@dataclass(frozen=True)
class SandboxPlan:
    """Everything one agent's sandbox is made of (paths outside, as the control room sees them)."""

    workspace: str
    homes: list[str]  # replaced by an empty private home (the agent's HOME, the operator's)
    hidden_dirs: list[str] = field(default_factory=list)  # under an empty tmpfs (the run dir)
    hidden_files: list[str] = field(default_factory=list)  # behind /dev/null (the audit db)
    ro_binds: list[str] = field(default_factory=list)  # read-only, at the same path
    rw_binds: list[str] = field(default_factory=list)  # read-write, at the same path
    forwards: list[Forward] = field(default_factory=list)


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def probe_bwrap(bwrap: str | None = None) -> tuple[bool, str]:
    """Whether bubblewrap is here and can make the namespaces a sandbox needs; says why not."""
    found = bwrap or find_bwrap()
    if found is None:
        return False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    argv = [found, *_base_mounts(), "--unshare-pid", "--unshare-net", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        version = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{found} cannot run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit {done.returncode}"
        return False, f"{found} cannot create namespaces: {why}"
    return True, f"{version or 'bubblewrap'} at {found}"


def resolve_tools(names: Iterable[str], path: str) -> list[str]:
    """The install directories of the programs ``names`` on ``path`` (bound in read-only).

    ``node`` at ``~/.nvm/versions/node/v20/bin/node`` is bound as
    ``~/.nvm/versions/node/v20``: the program and what it loads beside it.
    A name not found is skipped (the agent then fails to start it, and says so).
    """
    dirs: list[str] = []
    for name in names:
        found = shutil.which(name, path=path)
        if found is None:
            continue
        for program in {found, os.path.realpath(found)}:
            folder = os.path.dirname(program)
            dirs.append(os.path.dirname(folder) if os.path.basename(folder) == "bin" else folder)
    return sorted(set(dirs))


def _base_mounts() -> list[str]:
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


def _runtime_paths() -> list[str]:
    """What the bridge (and the Claude Code hook, ``python -m controlroom``) need to run."""
    package = Path(bridge.__file__).resolve().parent.parent  # controlroom/
    python = os.path.realpath(sys.executable)
    return sorted({sys.base_prefix, sys.prefix, os.path.dirname(python), str(package)})


def _under(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def bwrap_argv(plan: SandboxPlan, argv: Sequence[str], bwrap: str = "bwrap") -> list[str]:
    """``bwrap …mounts… -- python -I bridge.py --forward … -- ARGV``.

    Mounts apply in order: the read-only root; the private homes; what is
    bound in (the runtime, the tools, the extra binds, the workspace
    read-write); the run directory hidden; then whatever of those lies in
    the run directory bound back (this agent's worktree, handoff, settings,
    control socket); the audit files hidden wherever they are still seen;
    last the bridge and its sockets in the private /tmp.
    """
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    args += ["--unshare-ipc", "--unshare-uts", "--hostname", "sandbox", *_base_mounts()]
    for home in plan.homes:
        args += ["--tmpfs", home]
    binds = [("--ro-bind", p) for p in [*_runtime_paths(), *plan.ro_binds]]
    binds += [("--bind", p) for p in [*plan.rw_binds, plan.workspace]]
    binds = [(flag, path) for flag, path in binds if os.path.exists(path)]
    for flag, path in binds:
        args += [flag, path, path]
    for hidden in plan.hidden_dirs:
        if os.path.isdir(hidden):
            args += ["--tmpfs", hidden]
    for flag, path in binds:
        if _under(path, plan.hidden_dirs):
            args += [flag, path, path]
    shown = [path for _, path in binds]
    for hidden in plan.hidden_files:
        seen = not _under(hidden, [*plan.homes, *plan.hidden_dirs]) or _under(hidden, shown)
        if os.path.exists(hidden) and seen:
            args += ["--ro-bind", "/dev/null", hidden]
    args += ["--ro-bind", bridge.__file__, f"{INSIDE}/bridge.py"]
    for forward in plan.forwards:
        args += ["--bind", forward.socket, f"{INSIDE}/{forward.name}"]
    args += ["--chdir", plan.workspace, "--", os.path.realpath(sys.executable), "-I", "-S"]
    args.append(f"{INSIDE}/bridge.py")
    for forward in plan.forwards:
        args += ["--forward", f"{forward.port}={INSIDE}/{forward.name}"]
    return [*args, "--", *argv]
