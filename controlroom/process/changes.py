"""A quick look at the files that moved: changed against the base commit or not, and by how much.

The watcher names the paths an agent just wrote; this module tells, without
a git process per write, whether each now differs from the base commit: it
hashes the file as git would (a blob id) and compares it with the base
tree's entry, so a file written back to its original content drops out of
the change set. Line counts come from a line diff against the base blob
(read in one ``git cat-file --batch`` per batch, then cached). Git remains
the judge: ``confirm_changes`` replaces this look once the writes settle.

A file is looked at without following symlinks and without opening anything
but a regular file (an agent's FIFO must not hang the control room); a file
over ``READ_LIMIT`` is reported changed with unknown counts, for git to
confirm.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controlroom.models import FileChange
from controlroom.process.gitstate import GitWorkspace, TreeEntry, check_ignored, read_blobs

__all__ = [
    "READ_LIMIT",
    "BlobCache",
    "FileLook",
    "blob_id",
    "judge_paths",
    "line_counts",
    "look_at",
]

READ_LIMIT = 8 * 1024 * 1024
_BINARY_PROBE = 8000  # git calls a file binary when its first 8000 bytes hold a NUL
_EXACT_LINES = 20_000  # above this, counts are approximated until git confirms


@dataclass(frozen=True)
class FileLook:
    """What is at a path now: ``data`` for a regular file or symlink, else nothing to diff."""

    exists: bool
    data: bytes | None = None  # None: not a regular file or symlink, or too big to read
    mode: str = ""  # git's mode: 100644, 100755, 120000
    too_big: bool = False


def look_at(path: Path) -> FileLook:
    """The file at ``path``, never following a symlink or opening a FIFO, device or socket."""
    try:
        info = os.lstat(path)
    except OSError:
        return FileLook(exists=False)
    if stat.S_ISLNK(info.st_mode):
        try:
            return FileLook(True, os.fsencode(os.readlink(path)), "120000")
        except OSError:
            return FileLook(exists=False)
    if not stat.S_ISREG(info.st_mode):
        return FileLook(exists=True)
    mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
    if info.st_size > READ_LIMIT:
        return FileLook(True, None, mode, too_big=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return FileLook(exists=False)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else meanwhile
            return FileLook(exists=True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if sum(map(len, chunks)) > READ_LIMIT:
                return FileLook(True, None, mode, too_big=True)
        return FileLook(True, b"".join(chunks), mode)
    finally:
        os.close(fd)


def blob_id(data: bytes, object_format: str = "sha1") -> str:
    """The id git gives ``data`` as a blob (``git hash-object`` without filters)."""
    digest = hashlib.sha256() if object_format == "sha256" else hashlib.sha1()
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def _lines(data: bytes) -> list[bytes]:
    """Lines as git splits them: on ``\\n`` only, a last line without one kept apart."""
    if not data:
        return []
    lines = [line + b"\n" for line in data.split(b"\n")]
    if data.endswith(b"\n"):
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    return lines


def _binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_PROBE]


def line_counts(old: bytes, new: bytes) -> tuple[int | None, int | None]:
    """Lines added and removed from ``old`` to ``new`` (None, None: binary), as numstat counts."""
    if _binary(old) or _binary(new):
        return None, None
    a, b = _lines(old), _lines(new)
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    a, b = a[start:end_a], b[start:end_b]
    if not a or not b:
        return len(b), len(a)
    if len(a) + len(b) > _EXACT_LINES:  # a multiset difference: close, and git confirms later
        old_lines, new_lines = Counter(a), Counter(b)
        return sum((new_lines - old_lines).values()), sum((old_lines - new_lines).values())
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


class BlobCache:
    """Base blobs by id, bounded in bytes (a base blob never changes, so it never goes stale)."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, oid: str) -> bytes | None:
        blob = self._blobs.get(oid)
        if blob is not None:
            self._blobs.move_to_end(oid)
        return blob

    def fill(self, ws: GitWorkspace, oids: Iterable[str]) -> None:
        """Read the missing ones of ``oids`` in one git call."""
        missing = [o for o in oids if o not in self._blobs]
        for oid, blob in read_blobs(ws, missing).items():
            self._blobs[oid] = blob
            self._size += len(blob)
        while self._size > self.max_bytes and len(self._blobs) > 1:
            _, dropped = self._blobs.popitem(last=False)
            self._size -= len(dropped)


def judge_paths(
    ws: GitWorkspace,
    base: Mapping[str, TreeEntry],
    paths: Iterable[str],
    blobs: BlobCache,
    ignored: dict[str, bool],
) -> dict[str, FileChange | None]:
    """Each path's change against ``base`` (None: unchanged, or not something git tracks).

    ``ignored`` caches git's ignore verdicts for new files, filled here with
    one ``git check-ignore`` for the paths it does not know yet.
    """
    looks = {p: look_at(ws.top / p) for p in paths}
    unknown = [p for p, lk in looks.items() if p not in base and lk.exists and p not in ignored]
    if unknown:
        verdict = check_ignored(ws, unknown)
        ignored.update({p: p in verdict for p in unknown})
    moved = [p for p, lk in looks.items() if p in base and _differs(lk, base[p], ws)]
    blobs.fill(ws, (base[p].oid for p in moved))
    return {
        p: _judge(p, lk, base.get(p), ignored.get(p, False), blobs, ws) for p, lk in looks.items()
    }


def _differs(look: FileLook, entry: TreeEntry, ws: GitWorkspace) -> bool:
    if look.data is None:
        return not look.too_big and not look.exists  # deleted: its removed lines are counted
    return look.mode != entry.mode or blob_id(look.data, ws.object_format) != entry.oid


def _judge(
    path: str,
    look: FileLook,
    entry: TreeEntry | None,
    ignored: bool,
    blobs: BlobCache,
    ws: GitWorkspace,
) -> FileChange | None:
    if entry is None:  # not in the base: new, unless ignored or not a file git would take
        if not look.exists or ignored or (look.data is None and not look.too_big):
            return None
        added, removed = (None, None) if look.data is None else line_counts(b"", look.data)
        return FileChange(path=path, status="added", added=added, removed=removed)
    if look.data is None and not look.too_big:  # gone, or a FIFO or socket where a file was
        old = blobs.get(entry.oid) if not look.exists else None
        added, removed = (None, None) if old is None else line_counts(old, b"")
        return FileChange(path=path, status="deleted", added=added, removed=removed)
    if look.data is None:
        return FileChange(path=path, status="modified", added=None, removed=None)
    if not _differs(look, entry, ws):
        return None
    old = blobs.get(entry.oid)
    added, removed = (None, None) if old is None else line_counts(old, look.data)
    return FileChange(path=path, status="modified", added=added, removed=removed)
