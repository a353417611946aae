"""How the audit writer paces itself: batch sizes, delays, high water, retries, probes.

Apart from the writer so the figures and the reasons for them read in one
place, and a test or bench can name them without the writer's machinery.
"""

from __future__ import annotations

__all__ = [
    "BATCH_EVENTS",
    "CHECKPOINT_EVENTS",
    "HIGH_WATER_EVENTS",
    "MAX_BATCH_EVENTS",
    "MAX_DELAY_SECONDS",
    "PROBE_SECONDS",
    "RETRY_SECONDS",
    "STALL_SECONDS",
]

BATCH_EVENTS = 250
"""A batch is written as soon as this many events are queued.

Smaller than it could be on purpose: a ``flush`` waits for everything queued
before it, so the queue's size is its latency (about 10 µs per event). 250
keeps that to a few milliseconds at 20,000 events/s; throughput does not
suffer, because a writer that is busy finds bigger batches waiting anyway.
"""

MAX_DELAY_SECONDS = 0.050
"""…or as soon as the oldest queued event has waited this long."""

MAX_BATCH_EVENTS = 20_000
"""Upper bound of one transaction when the writer has fallen behind."""

HIGH_WATER_EVENTS = 100_000
"""Above this many uncommitted events, producers that can wait are asked to (``room``)."""

CHECKPOINT_EVENTS = 2_000
"""Poke the checkpointer after this many committed events (about 1 MB of log)."""

RETRY_SECONDS = 0.2
"""Pause before a failed batch is tried again."""

PROBE_SECONDS = 0.5
"""While nothing is written, how often the log's file (and, in trouble, its reserve) is checked."""

STALL_SECONDS = 10.0
"""A write that has not returned after this long (twice the default busy timeout) is trouble."""
