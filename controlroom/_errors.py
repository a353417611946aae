"""The one exception tree of controlroom.

Every error an operator can cause or meet is a ``ControlRoomError``; the CLI
turns each into one line on stderr and a non-zero exit, never a traceback::

    ControlRoomError
     ├── ConfigError        config.toml (or a theme file) is invalid; carries every problem found
     ├── AuditError         the audit database is missing, corrupt or not ours
     │    └── StoreLockedError   another process already writes to this database
     ├── AgentError         an agent could not be started or controlled
     │    └── WorkspaceError     its workspace could not be prepared
     ├── GitError           a git command the radar or a merge needs failed
     ├── HandoffError       a handoff broke one of the three-field rules
     └── ControlError       a control-API request failed (no swarm running, a bad request)
          ├── AgentNotFound      no agent of that name in this swarm
          ├── AgentNotRunning    the agent is not in a state the action applies to
          ├── GateNotFound       no gate of that id
          ├── GateAlreadyDecided the gate was decided (or is being decided) by someone else
          └── ReadOnly           a read-only control room refuses every command

A ``ControlError`` crosses the control socket as its message and its
``code``; the client raises the same class again (``control_error``), so a
screen tells a gate decided elsewhere from any other refusal by its class,
never by the words of its message.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "AgentNotFound",
    "AgentNotRunning",
    "AuditError",
    "ConfigError",
    "ConfigProblem",
    "ControlError",
    "ControlRoomError",
    "GateAlreadyDecided",
    "GateNotFound",
    "GitError",
    "HandoffError",
    "ReadOnly",
    "StoreLockedError",
    "WorkspaceError",
    "control_error",
]

from dataclasses import dataclass


class ControlRoomError(Exception):
    """Base of every error controlroom reports to an operator."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(ControlRoomError):
    """A config (or theme) file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class AuditError(ControlRoomError):
    """The audit database cannot be opened, read or written as an audit log."""


class StoreLockedError(AuditError):
    """A second process tried to write to an audit database that is already in use."""


class AgentError(ControlRoomError):
    """An agent could not be started, signalled or found."""


class WorkspaceError(AgentError):
    """An agent's workspace (worktree, folder) could not be prepared."""


class GitError(ControlRoomError):
    """A git command the radar or a merge needs failed (git's own words are in the message)."""


class HandoffError(ControlRoomError):
    """A handoff broke the rules: exactly three non-empty, size-capped fields."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ControlError(ControlRoomError):
    """A control-API request could not be carried out; ``code`` names its kind on the wire."""

    code = "control"


class AgentNotFound(ControlError):
    """No agent of that name in this swarm."""

    code = "agent_not_found"


class AgentNotRunning(ControlError):
    """The agent is not in a state this action applies to (pause a finished agent...)."""

    code = "agent_not_running"


class GateNotFound(ControlError):
    """No gate of that id."""

    code = "gate_not_found"


class GateAlreadyDecided(ControlError):
    """The gate was decided, or is being decided, by someone else."""

    code = "gate_already_decided"


class ReadOnly(ControlError):
    """A read-only control room (an observer's screen) refuses every command."""

    code = "read_only"


_BY_CODE: dict[str, type[ControlError]] = {
    cls.code: cls
    for cls in (
        ControlError,
        AgentNotFound,
        AgentNotRunning,
        GateNotFound,
        GateAlreadyDecided,
        ReadOnly,
    )
}


def control_error(message: str, code: object = None) -> ControlError:
    """The error a control room reported over the socket, as the class it raised there.

    An unknown code (a newer control room) is a plain ``ControlError``.
    """
    cls = _BY_CODE.get(code, ControlError) if isinstance(code, str) else ControlError
    return cls(message)
