"""The audit store: an append-only, hash-chained SQLite log of every event.

``AuditStore`` writes (one run at a time, batched, redacted, chained);
``verify_chain`` checks a database; ``open_readonly`` is how readers open one.

Names are imported on first use, so a reader (``controlroom audit``) that
only needs ``verify`` or ``queries`` does not pay for aiosqlite and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlroom.store.connection import ChainHead, open_readonly
    from controlroom.store.redact import REDACTED, Redactor
    from controlroom.store.verify import VerifyResult, verify_chain
    from controlroom.store.writer import AuditStore

__all__ = [
    "REDACTED",
    "AuditStore",
    "ChainHead",
    "Redactor",
    "VerifyResult",
    "open_readonly",
    "verify_chain",
]

_HOME = {
    "REDACTED": "redact",
    "AuditStore": "writer",
    "ChainHead": "connection",
    "Redactor": "redact",
    "VerifyResult": "verify",
    "open_readonly": "connection",
    "verify_chain": "verify",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
