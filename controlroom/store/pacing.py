"""How the audit writer paces itself: batch sizes, delays, high water, retries, probes.

Apart from the writer so the figures and the reasons for them read in one
place, and a test or bench can name them without the writer's machinery.
"""

from __future__ import annotations

__all__ = [
    "BATCH_EVENTS",
    "CHECKPOINT_BYTES",
    "HIGH_WATER_EVENTS",
    "MAX_BATCH_EVENTS",
    "MAX_DELAY_SECONDS",
    "PROBE_SECONDS",
    "RETRY_SECONDS",
    "STALL_SECONDS",
]

MAX_DELAY_SECONDS = 0.250
"""Every event is committed at most this long after it was queued (while the writer keeps up).

The operator's guarantee for what agents report: a line is on disk within a
quarter of a second, the dashboard's refresh period, so what the screen shows
is what the log holds by the next refresh. Not shorter, because what a commit
costs grows with the agents, not the events: each commit rewrites the
``events_agent`` index leaf of every agent that spoke (about 100 pages for a
100-agent swarm), so committing every 50 ms cost a 100 x 20 events/s swarm a
third more of the control room's CPU (``bench/tui_load.py``). An action's
record never waits for this: ``flush`` and ``commit`` write at once, with
what is queued before them, up to a window of a swarm's events; that is
the price (``bench/audit_ingest.py --swarm-only``, load 3-7: a decision's
flush p50 9-11 ms, where a 50 ms window gave 3-5 ms). Writing ahead into an
open transaction brought it back but cost most of the saving (the inserts
are where the per-agent work is) and held the write lock most of the time.
"""

BATCH_EVENTS = 2_000
"""…or as soon as this many events are queued, whichever comes first.

The window decides at a swarm's steady pace (100 x 20 events/s queue 500 in
250 ms); this bounds a burst. A ``flush`` waits for everything queued before
it, so this is also its worst latency short of a flood: about 12 µs of the
writer's time per event (chain, insert), some 25 ms for a full batch.
"""

MAX_BATCH_EVENTS = 20_000
"""Upper bound of one transaction when the writer has fallen behind."""

HIGH_WATER_EVENTS = 100_000
"""Above this many uncommitted events, producers that can wait are asked to (``room``)."""

CHECKPOINT_BYTES = 4 << 20
"""Copy the write-ahead log into the database once it holds this much not yet copied.

4 MiB, SQLite's own default (1,000 pages): about two seconds of a 100 x 20
events/s swarm (a commit writes every page it changed, ~1 KiB per event).
Copying less often saves little CPU (the same hot pages are copied once per
checkpoint: one a second or one in four measured the same), while the log
that readers search and the room a checkpoint needs grow with it: the
full-disk reserve (``reserve.RESERVE_BYTES``) holds twice this, so the
checkpoint the log is due can always complete in it.
"""

RETRY_SECONDS = 0.2
"""Pause before a failed batch is tried again."""

PROBE_SECONDS = 0.5
"""While nothing is written, how often the log's file (and, in trouble, its reserve) is checked."""

STALL_SECONDS = 10.0
"""A write that has not returned after this long (twice the default busy timeout) is trouble."""
