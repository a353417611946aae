"""controlroom: a keyboard-driven terminal control room for swarms of AI coding agents."""

from ._errors import (
    AgentError,
    AuditError,
    ConfigError,
    ConfigProblem,
    ControlError,
    ControlRoomError,
    HandoffError,
    StoreLockedError,
    WorkspaceError,
)

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "AuditError",
    "ConfigError",
    "ConfigProblem",
    "ControlError",
    "ControlRoomError",
    "HandoffError",
    "StoreLockedError",
    "WorkspaceError",
    "__version__",
]
