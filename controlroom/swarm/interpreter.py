"""The interpreter tuned for supervising: fewer young collections, and the GIL handed back sooner.

Called once where a swarm starts (``run``, the dashboard); apart from the
supervisor because it is about the process, not the swarm.
"""

from __future__ import annotations

__all__ = ["SWITCH_INTERVAL_SECONDS", "tune_interpreter"]

SWITCH_INTERVAL_SECONDS = 0.0001
"""How long the event loop waits, at most, for the GIL a busy thread holds (Python's default: 5 ms).

Beside a flood the audit writer's thread runs Python flat out, and every
system call of the loop's (a pipe read, an epoll poll, a cgroup file read
on the kill path) releases the GIL: the writer takes it, and the loop gets
it back only when the writer is asked to drop it, a switch interval later.
A step of 20 such calls then took up to 70-85 ms at 5 ms (p99 of 1,000, a
CPU-bound thread beside it, load 4-5), 17-21 ms at 1 ms, 9-16 ms at 0.5 ms.
At 0.1 ms the governor's worst reaction beside 20 floods
(bench/governor_reaction.py, 50 runs each, interleaved, load 1-2) was 7.5,
8.6, 8.7, 9.2, 12.2 ms against 6.8, 18.7, 19.0, 19.2, 21.0 ms at 0.5 ms.
The price: the loop thread's CPU per event in bench/ingest.py, 8.2-8.3 µs
against 7.8-7.9 µs (two pairs; ratio to the bare loop 1.02-1.04 either
way). The headless control room over 100 agents (bench/tui_load.py) took
10.1 % of a core against 11.3 % in the same minute.
"""


def tune_interpreter() -> None:
    """Tune the interpreter for supervising (call once, where a swarm starts).

    Every event allocates a few container objects: with the default thresholds
    a flooding swarm runs a young collection every 700 allocations, and the old
    ones rescan every module and model built at start. Freeze those (they live
    as long as the process) and collect less often: about 20 % more events/s.
    Not much less often: a young collection holds the loop while it walks what
    survived since the last one (mostly audit rows waiting for their commit,
    each looked at once), so its pause grows with the threshold: bench/ingest.py
    saw the longest pause 14-36 ms at 50,000 and 3.9-6.2 ms at 10,000, for
    0.02-0.07 µs of collector CPU per event either way (under load, 2026-12-02).
    The middle generation is collected every 5 young collections, not 50:
    its pass walks all that survived the young ones since the last, and the
    dashboard's screens make much of it (every modal pushed and popped
    restyles the main screen: about 18,000 objects of cyclic garbage a kill).
    At 50, the operator killing agents one after another (bench/tui_load.py,
    60 kills beside 100 agents) held the loop, and the governor with it, for
    71-94 ms p50 and 79-177 ms at worst every 4 s; at 5, 8 ms p50 and 16-18
    ms at worst, the loop's longest stall 34-37 ms against 93-188 ms (two
    interleaved pairs, load 0.5-1). Full collections stay as rare as before
    (every 5,000 young ones: 5 x 1,000). bench/ingest.py (headless): ratio
    1.04 / 1.09 against 1.10 / 1.12, longest pause 4.5-5.6 ms either way.
    And the GIL's switch interval is shortened (``SWITCH_INTERVAL_SECONDS``):
    the governor's stop beside a flood waits less for the audit writer.
    """
    import gc
    import sys

    gc.freeze()
    gc.set_threshold(10_000, 5, 1_000)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
