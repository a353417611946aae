"""``audit show``: one event with every field and its chain hashes.

What the agent wrote is printed inert, one line per field, so a hostile
payload cannot drive the terminal that reads it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3

from controlroom._errors import AuditError
from controlroom.cli.audit.events import event_record
from controlroom.cli.render import iso_utc
from controlroom.inert import inert_line, json_inert

__all__ = ["cmd_show"]


def cmd_show(conn: sqlite3.Connection, args: argparse.Namespace) -> int:
    from controlroom.store.queries import get_event
    from controlroom.text import describe_payload

    event = get_event(conn, args.event_id)
    if event is None:
        raise AuditError(f"no event {args.event_id} in {args.db_path}")
    record = {**event_record(event), "prev_hash": event.prev_hash, "hash": event.hash}
    if args.format == "json":
        print(json_inert(json.dumps(record, indent=2, ensure_ascii=False)))
        return 0
    print(f"event {event.id}: {describe_payload(event.payload)}")
    base = {
        "time": f"{iso_utc(event.ts)}  ({event.ts!r})",
        "run": event.run,
        "seq": event.seq,
        "agent": event.agent or "- (swarm)",
        "kind": event.kind,
    }
    for key, value in base.items():
        print(f"  {key:<10} {value}")
    for key, value in event.fields.items():  # what the agent wrote: inert, one line each
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict | list) and len(text) > 60:
            text = json.dumps(value, indent=2, ensure_ascii=False)
            text = "\n".join(inert_line(line) for line in text.splitlines())
            text = text.replace("\n", "\n" + " " * 13)
        else:
            text = inert_line(text)
        print(f"  {key:<10} {text}")
    print(f"  {'prev_hash':<10} {event.prev_hash}")
    print(f"  {'hash':<10} {event.hash}")
    return 0
