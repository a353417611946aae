"""The one reader of every agent's pipes (swarm/reader.py), on real pipes.

The "agents" here are pipes whose write ends the test holds: a flooding
pipe is refilled from inside its own delivery, so it is full at every
round, and a quiet line can be written at an exact point of a round. What
is checked is order (which slice comes before which), never time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator

import pytest

from controlroom.adapters.lines import MalformedLine
from controlroom.swarm.reader import (
    QUIET_BYTES_PER_SECOND,
    Item,
    OutputReader,
)

FLOOD_LINE = b'{"type": "usage", "input_tokens": 1000, "output_tokens": 100}\n'
QUIET_LINE = b'{"type": "status", "text": "still here"}\n'


class Pipes:
    """Pipes opened by a test; every end still open is closed at the end."""

    def __init__(self) -> None:
        self.ends: list[int] = []

    def open(self) -> tuple[int, int]:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(write_end, False)
        self.ends += [read_end, write_end]
        return read_end, write_end

    def close_write(self, fd: int) -> None:
        os.close(fd)
        self.ends.remove(fd)

    def reader_owns(self, fd: int) -> None:
        self.ends.remove(fd)  # the reader closes what it was given

    def close(self) -> None:
        for fd in self.ends:
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def pipes() -> Iterator[Pipes]:
    opened = Pipes()
    yield opened
    opened.close()


def fill(write_end: int, line: bytes = FLOOD_LINE) -> int:
    """Write whole lines until the pipe is full (each write is atomic: under PIPE_BUF)."""
    written = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            written += os.write(write_end, line)
    return written


class Flood:
    """A pipe kept full: every delivery refills what it took."""

    def __init__(self, pipes: Pipes, reader: OutputReader, name: str, on_lines: Callable[[], None]):
        read_end, self.write_end = pipes.open()
        pipes.reader_owns(read_end)
        self.lines = 0
        self.refill = True
        self._on_lines = on_lines
        fill(self.write_end)
        self.pipe = reader.attach(read_end, self.deliver, name)

    def deliver(self, items: list[Item]) -> None:
        self.lines += len(items)
        if self.refill:
            fill(self.write_end)
        self._on_lines()


async def test_lines_are_framed_across_slices_with_the_cap_garbage_and_the_last_line(
    pipes: Pipes,
) -> None:
    """Seven-byte slices: lines split anywhere come out whole, bad ones as MalformedLine."""
    reader = OutputReader(round_bytes=7, min_slice=7, max_slice=7)
    read_end, write_end = pipes.open()
    pipes.reader_owns(read_end)
    got: list[Item] = []
    pipe = reader.attach(read_end, got.extend, "framing", max_line=64)
    os.write(write_end, b'{"type": "status"}\nhello wor')
    os.write(write_end, b"ld\r\n\xff\xfe not utf-8\n" + b"x" * 100 + b"\nafter\n")
    os.write(write_end, b"\x00\x01\x02\x03 binary\nlast line, no newline")
    pipes.close_write(write_end)
    await asyncio.wait_for(pipe.ended, 10)
    assert got[:2] == ['{"type": "status"}', "hello world"]
    assert isinstance(got[2], MalformedLine) and "UTF-8" in got[2].reason
    assert isinstance(got[3], MalformedLine) and got[3].length == 100
    assert "over 64 bytes" in got[3].reason
    assert got[4] == "after"
    assert isinstance(got[5], MalformedLine) and "binary" in got[5].reason
    assert got[6] == "last line, no newline"
    assert len(got) == 7 and pipe.lines == 7
    assert pipe.closed and reader.pipes == 0


async def test_a_quiet_line_goes_ahead_of_twenty_floods(pipes: Pipes) -> None:
    """The quiet line is written mid-round, inside a flood's delivery; no flood slice follows
    before it is delivered (the reader reads quiet pipes ahead of every loud slice)."""
    reader = OutputReader()
    floods: list[Flood] = []
    quiet_read, quiet_write = pipes.open()
    pipes.reader_owns(quiet_read)
    written_at: int | None = None
    seen_at: int | None = None
    seen = asyncio.Event()

    def flooded() -> None:
        nonlocal written_at
        total = sum(f.lines for f in floods)
        if written_at is None and total >= 20_000:  # well under way, in the middle of a round
            os.write(quiet_write, QUIET_LINE)
            written_at = total

    def quiet(items: list[Item]) -> None:
        nonlocal seen_at
        assert items == [QUIET_LINE.decode().rstrip("\n")]
        seen_at = sum(f.lines for f in floods)
        seen.set()

    floods.extend(Flood(pipes, reader, f"flood-{i:02d}", flooded) for i in range(20))
    reader.attach(quiet_read, quiet, "quiet")
    try:
        await asyncio.wait_for(seen.wait(), 60)
    finally:
        reader.close()
    assert written_at is not None and seen_at is not None
    assert seen_at == written_at
    # and the floods shared the rounds: none was starved for another
    counts = sorted(f.lines for f in floods)
    assert counts[0] >= 0.8 * counts[-1], counts


async def test_a_stop_scheduled_in_a_slice_goes_before_anyone_s_next_slice(pipes: Pipes) -> None:
    """after_slice runs when the slice is delivered; what it schedules with hurry() goes next."""
    reader = OutputReader()
    order: list[str] = []
    done = asyncio.Event()
    floods: list[Flood] = []

    def urgent() -> None:
        order.append("urgent")

    def after() -> None:
        order.append("after slice")
        asyncio.get_running_loop().call_soon(urgent)
        reader.hurry()

    def flooded() -> None:
        total = sum(f.lines for f in floods)
        order.append("slice")
        if total >= 2_000 and "after slice" not in order:
            reader.after_slice(after)
            order.append("decided")
        if "urgent" in order and order.count("slice") > order.index("urgent") + 40:
            done.set()

    floods.extend(Flood(pipes, reader, f"flood-{i}", flooded) for i in range(10))
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        reader.close()
    decided = order.index("decided")
    # the decision's slice ends, then the action, then what it scheduled: no slice between
    assert order[decided + 1 : decided + 4] == ["after slice", "urgent", "slice"]


class Writer:
    """What the reader needs of the audit log, as the test wants it: behind, or not."""

    def __init__(self) -> None:
        self.backlogged = False
        self._room = asyncio.Event()

    async def room(self, timeout: float | None = None) -> bool:
        if not self.backlogged:
            return True
        try:
            await asyncio.wait_for(self._room.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def make_room(self) -> None:
        self.backlogged = False
        self._room.set()


async def test_back_pressure_holds_the_floods_and_never_the_quiet_pipe(pipes: Pipes) -> None:
    writer = Writer()
    reader = OutputReader(writer)
    floods = [Flood(pipes, reader, f"flood-{i}", lambda: None) for i in range(3)]
    quiet_read, quiet_write = pipes.open()
    pipes.reader_owns(quiet_read)
    held_at_quiet: list[list[str]] = []
    quiet_lines = 0
    arrived = asyncio.Event()

    def quiet(items: list[Item]) -> None:
        nonlocal quiet_lines
        quiet_lines += len(items)
        held_at_quiet.append(reader.held)
        arrived.set()

    reader.attach(quiet_read, quiet, "quiet")
    writer.backlogged = True
    try:
        while sorted(reader.held) != [f"flood-{i}" for i in range(3)]:
            await asyncio.sleep(0.01)
        taken = [f.lines for f in floods]
        for _ in range(20):  # the quiet agent goes on writing while the floods are held
            arrived.clear()
            os.write(quiet_write, QUIET_LINE)
            await asyncio.wait_for(arrived.wait(), 10)
        assert quiet_lines == 20
        assert all(held == [f"flood-{i}" for i in range(3)] for held in held_at_quiet)
        # held: nothing more was read of them (one quiet allowance each at most)
        allowance_lines = int(QUIET_BYTES_PER_SECOND) // len(FLOOD_LINE) + 1
        assert all(f.lines - t <= allowance_lines for f, t in zip(floods, taken, strict=True))

        # an agent that has exited is drained at once, held or not
        floods[0].refill = False
        pipes.close_write(floods[0].write_end)
        floods[0].pipe.drain()
        await asyncio.wait_for(floods[0].pipe.ended, 10)
        assert "flood-0" not in reader.held

        # room in the log: the others are let go
        before = [f.lines for f in floods[1:]]
        writer.make_room()
        while any(f.lines <= b for f, b in zip(floods[1:], before, strict=True)):
            await asyncio.sleep(0.01)
        assert reader.held == []
    finally:
        reader.close()


async def test_close_ends_every_pipe_a_held_one_too(pipes: Pipes) -> None:
    writer = Writer()
    writer.backlogged = True
    reader = OutputReader(writer)
    flood = Flood(pipes, reader, "flood", lambda: None)
    flood.refill = False
    while reader.held != ["flood"]:
        await asyncio.sleep(0.01)
    fill(flood.write_end)  # full
    reader.close()
    assert flood.pipe.closed and reader.pipes == 0
    await asyncio.wait_for(flood.pipe.ended, 1)
    with pytest.raises(BrokenPipeError):
        os.write(flood.write_end, FLOOD_LINE)


async def test_rounds_coalesce_while_output_flows_and_the_first_line_after_a_lull_is_read_at_once(
    pipes: Pipes,
) -> None:
    """Lines written just after a round wait for the next one, together; after a lull, none wait.

    Order, not time: markers scheduled on the loop's own timers say where the
    rounds fell (timers fire in deadline order however loaded the machine is,
    and a pipe found ready goes before a timer due in the same iteration).
    """
    loop = asyncio.get_running_loop()
    reader = OutputReader(coalesce_seconds=0.2)
    order: list[str] = []
    ends = []
    for i in range(5):
        read_end, write_end = pipes.open()
        pipes.reader_owns(read_end)
        ends.append(write_end)
        reader.attach(read_end, lambda items, i=i: order.extend(f"pipe {i}" for _ in items), str(i))
    done = asyncio.Event()

    def first_round_read() -> None:
        for end in ends[1:]:
            os.write(end, QUIET_LINE)
        loop.call_soon(order.append, "next loop turn")
        loop.call_later(0.1, order.append, "0.1 s later")
        loop.call_later(0.6, after_a_lull)

    def after_a_lull() -> None:
        os.write(ends[0], QUIET_LINE)
        loop.call_later(0.05, order.append, "0.05 s later")
        loop.call_later(0.3, done.set)

    os.write(ends[0], QUIET_LINE)
    loop.call_later(0.05, first_round_read)
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        reader.close()
    assert order[0] == "pipe 0"
    assert order[1:3] == ["next loop turn", "0.1 s later"]
    assert sorted(order[3:7]) == ["pipe 1", "pipe 2", "pipe 3", "pipe 4"]  # one round
    assert order[7:] == ["pipe 0", "0.05 s later"]


async def test_a_round_out_of_bytes_gives_the_loop_a_turn_and_the_pipes_it_left_go_first(
    pipes: Pipes,
) -> None:
    """With a budget of one slice a round, the floods are served in rotation.

    (At first every new pipe counts as quiet, and the first slice's read of
    the quiet ones takes them all: the checks start once all are known loud.)
    """
    loop = asyncio.get_running_loop()
    reader = OutputReader(round_bytes=1)
    served: list[str] = []
    done = asyncio.Event()

    def on_slice(name: str) -> None:
        served.append(name)
        if len(served) == 25:
            loop.call_soon(served.append, "loop turn")
        if len(served) >= 60:
            done.set()

    floods = [
        Flood(pipes, reader, f"flood-{i}", lambda i=i: on_slice(f"flood-{i}")) for i in range(10)
    ]
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        reader.close()
    assert served[25] == "loop turn" and served[26].startswith("flood-")
    slices = served[26:56]
    for start in range(0, 21):  # any ten slices in a row: ten floods, each once
        assert len(set(slices[start : start + 10])) == 10, slices
    assert all(f.lines > 0 for f in floods)


async def test_while_a_pipe_is_brisk_the_rounds_come_sooner(pipes: Pipes) -> None:
    """A read of two lines (an agent writing faster than the rounds come) shortens the wait."""
    loop = asyncio.get_running_loop()
    reader = OutputReader(coalesce_seconds=0.5)
    order: list[str] = []
    (a_read, a_write), (b_read, b_write) = pipes.open(), pipes.open()
    pipes.reader_owns(a_read)
    pipes.reader_owns(b_read)
    done = asyncio.Event()

    def brisk(items: list[Item]) -> None:
        order.append(f"a: {len(items)} lines")
        os.write(b_write, QUIET_LINE)  # just after this round: waits for the next one
        loop.call_later(0.2, order.append, "0.2 s later")
        loop.call_later(0.4, done.set)

    reader.attach(a_read, brisk, "a")
    reader.attach(b_read, lambda items: order.append("b"), "b")
    os.write(a_write, QUIET_LINE * 2)
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        reader.close()
    assert order == ["a: 2 lines", "b", "0.2 s later"]  # not 0.5 s later: 1 ms
