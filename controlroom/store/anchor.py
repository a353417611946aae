"""Anchors: the audit chain's head, kept outside the database.

The hash chain proves that the rows of a log agree with each other. It cannot
prove that they are the rows that were written: an agent runs as the
operator's user, can open the database, and can cut the tail and move
``chain_head`` back, or rewrite every row from some point on with fresh
hashes. An *anchor* is a copy of the head (event id, hash, when) written
somewhere the agents cannot reach: a file in another user's directory,
another machine, a ticket. ``verify_chain(path, anchors)`` then proves that
the log still *extends* every anchor: the row with the anchor's id exists and
its hash, recomputed from the first row on, is the anchor's hash. A cut tail
fails the first test, any rewritten row at or before the anchor the second.

One anchor is one JSON line::

    {"event_id": 1984, "hash": "9f2c…", "time": "2026-11-25T02:03:04.123Z", "db": "/abs/audit.db"}

``db`` is for the reader only; every anchor given to ``verify`` must hold.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controlroom._errors import AuditError
from controlroom.store.connection import ChainHead

__all__ = ["Anchor", "anchor_line", "append_anchor", "extends", "read_anchors"]

_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Anchor:
    """One head of the chain as it was at ``time``; ``where`` is its file:line, for messages."""

    event_id: int
    hash: str
    time: str
    where: str = ""


def anchor_line(head: ChainHead, db: Path, now: float) -> str:
    """The anchor of ``head`` (the head of ``db`` at ``now``) as one JSON line, no newline."""
    moment = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    record = {
        "event_id": head.last_id,
        "hash": head.hash,
        "time": moment.replace("+00:00", "Z"),
        "db": str(db.absolute()),
    }
    return json.dumps(record, separators=(", ", ": "))


def extends(anchors: Sequence[Anchor]) -> str:
    """What a log that passed ``verify`` against ``anchors`` proved, in words."""
    latest = max(anchors, key=lambda a: a.event_id)
    plural = "anchor" if len(anchors) == 1 else "anchors"
    return (
        f"extends {len(anchors)} {plural} "
        f"(the latest: event {latest.event_id}, taken {latest.time})"
    )


def append_anchor(path: Path, line: str) -> None:
    """Append one anchor line to ``path`` (created if missing) and sync it to disk."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise AuditError(f"cannot write the anchor to {path}: {exc.strerror or exc}") from None


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in ``path``; a line that is not one is an ``AuditError`` naming file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise AuditError(f"cannot read anchors from {path}: {reason}") from None
    anchors: list[Anchor] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            anchors.append(_parse(line, f"{path}:{number}"))
    if not anchors:
        raise AuditError(f"{path}: no anchors in the file")
    return anchors


def _parse(line: str, where: str) -> Anchor:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise AuditError(f"{where}: not an anchor (not a JSON object)")
    event_id, digest, time = data.get("event_id"), data.get("hash"), data.get("time", "")
    if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 0:
        raise AuditError(f"{where}: event_id must be a whole number >= 0, got {event_id!r:.40}")
    if not isinstance(digest, str) or not _HASH.match(digest):
        raise AuditError(f"{where}: hash must be 64 lowercase hex digits, got {digest!r:.80}")
    if not isinstance(time, str):
        raise AuditError(f"{where}: time must be a string, got {time!r:.40}")
    return Anchor(event_id, digest, time, where)
