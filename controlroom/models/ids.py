"""Ids the control room hands out: runs and gates. Short, sortable where it helps, unguessable."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_gate_id", "new_run_id"]


def new_run_id() -> str:
    """A sortable, readable run id: ``20261125-020249-3f9a``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def new_gate_id() -> str:
    """A short id an operator can type: ``g-`` and 8 hex digits."""
    return "g-" + secrets.token_hex(4)
