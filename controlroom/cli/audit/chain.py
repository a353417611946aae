"""``audit verify`` and ``audit anchor``: is the hash chain intact, and where to pin its head.

An anchor is written only after a verify passes: an anchor of a forged
chain would vouch for the forgery.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.store.verify import VerifyResult

__all__ = ["cmd_anchor", "cmd_verify"]


def cmd_verify(args: argparse.Namespace) -> int:
    from controlroom.store.anchor import extends, read_anchors
    from controlroom.store.verify import verify_chain

    anchors = [a for name in args.anchor or () for a in read_anchors(Path(name))]
    result = verify_chain(args.db_path, anchors)
    if result.ok:
        proved = f"; {extends(anchors)}" if anchors else ""
        print(f"ok: {result.events} events, chain intact{proved}")
        return 0
    print(_broken(result))
    return 1


def _broken(result: VerifyResult) -> str:
    if result.first_bad_id is None:
        return f"broken: {result.reason}"
    reason = result.reason.removeprefix(f"row {result.first_bad_id}: ")
    return f"broken at event {result.first_bad_id}: {reason}"


def cmd_anchor(args: argparse.Namespace) -> int:
    """Verify first: an anchor of a forged chain would vouch for the forgery."""
    import time

    from controlroom.store.anchor import anchor_line, append_anchor
    from controlroom.store.verify import verify_chain

    result = verify_chain(args.db_path)
    if not result.ok or result.head is None:
        print(f"{_broken(result)}; not anchored")
        return 1
    line = anchor_line(result.head, args.db_path, time.time())
    if args.out is None:
        print(line)
        return 0
    append_anchor(Path(args.out), line)
    print(f"anchored event {result.head.last_id} to {args.out}")
    return 0
