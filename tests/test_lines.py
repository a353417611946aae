"""Pipe framing: bounded memory, every kind of garbage reported once, good lines never lost."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlroom.adapters import NativeAdapter
from controlroom.adapters.lines import LineSplitter, MalformedLine, read_line_batches, read_lines
from controlroom.models import MalformedOutput, Usage

Item = str | MalformedLine


def frame(data: bytes, max_line: int = 1 << 20, chunk: int = 1 << 16) -> list[Item]:
    splitter = LineSplitter(max_line)
    out: list[Item] = []
    for i in range(0, len(data), chunk):
        out.extend(splitter.feed(data[i : i + chunk]))
    out.extend(splitter.close())
    return out


def test_plain_lines_empty_lines_crlf_and_a_partial_tail() -> None:
    assert frame(b"a\n\nb\r\nc\rd\ntail") == ["a", "", "b", "c\rd", "tail"]
    assert frame(b"") == []
    assert frame(b"\n") == [""]
    assert frame(b"only") == ["only"]


def test_line_at_the_limit_passes_one_over_is_reported_with_its_length() -> None:
    out = frame(b"x" * 16 + b"\n" + b"y" * 17 + b"\nz\n", max_line=16)
    assert out[0] == "x" * 16
    assert isinstance(out[1], MalformedLine)
    assert out[1].length == 17
    assert out[1].reason == "line over 16 bytes (17 bytes); discarded"
    assert out[1].preview == "y" * 17
    assert out[2:] == ["z"]


def test_overlong_line_spanning_many_chunks_is_reported_once() -> None:
    data = b"head\n" + b"q" * 5000 + b"\nafter\n" + b"r" * 3000  # no newline at EOF
    out = frame(data, max_line=1024, chunk=100)
    assert out[0] == "head" and out[2] == "after"
    assert isinstance(out[1], MalformedLine) and out[1].length == 5000
    assert out[1].reason == "line over 1 KiB (5000 bytes); discarded"
    assert len(out[1].preview) == 200
    assert isinstance(out[3], MalformedLine) and out[3].length == 3000
    assert len(out) == 4


def test_overlong_line_is_never_held_in_memory() -> None:
    splitter = LineSplitter()  # 1 MiB
    piece = b"z" * (1 << 16)
    tracemalloc.start()
    try:
        for _ in range(800):  # 50 MiB without a newline
            assert splitter.feed(piece) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak} bytes while discarding a 50 MiB line"
    out = splitter.feed(b"zz\nok\n")
    assert isinstance(out[0], MalformedLine) and out[0].length == 800 * (1 << 16) + 2
    assert out[0].reason.startswith("line over 1 MiB")
    assert out[1:] == ["ok"]


def test_invalid_utf8_is_reported_and_the_neighbours_survive() -> None:
    out = frame(b"before\nbad \xff\xfe here\ncaf\xc3\xa9\n")
    assert out[0] == "before" and out[2] == "café"
    bad = out[1]
    assert isinstance(bad, MalformedLine)
    assert bad.reason == "not UTF-8 (bad byte at offset 4); line skipped"
    assert bad.preview == "bad \\xff\\xfe here" and bad.length == 11


def test_utf8_sequence_split_across_chunks_is_fine() -> None:
    data = "naïve ✓ \U0001f600\n".encode() * 50
    for chunk in (1, 2, 3, 7):
        assert frame(data, chunk=chunk) == ["naïve ✓ \U0001f600"] * 50


def test_binary_noise_nul_and_the_threshold() -> None:
    colours = "\x1b[31mERROR\x1b[0m progress\r50%\tdone"
    one_in_twenty = "a" * 19 + "\x07"  # 5% control: text with a bell in it
    three_in_twenty = "a" * 17 + "\x01\x02\x03"
    data = "\n".join([colours, one_in_twenty, three_in_twenty, "nul\x00here", "ok"]).encode()
    out = frame(data)
    assert out[0] == colours and out[1] == one_in_twenty and out[4] == "ok"
    for bad, length in ((out[2], 20), (out[3], 8)):
        assert isinstance(bad, MalformedLine) and bad.reason.startswith("binary output (")
        assert bad.length == length
        assert "\x00" not in bad.preview and "\x01" not in bad.preview
    assert isinstance(out[3], MalformedLine) and out[3].preview == "nul\\x00here"


def test_malformed_line_becomes_an_event() -> None:
    event = MalformedLine("not UTF-8", "x", 3).to_event("agent-1", "stderr")
    assert isinstance(event, MalformedOutput)
    assert (event.agent, event.stream, event.reason, event.preview, event.length) == (
        "agent-1",
        "stderr",
        "not UTF-8",
        "x",
        3,
    )


def test_max_line_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line must be positive"):
        LineSplitter(0)


_pieces = st.lists(
    st.sampled_from(
        [b"\n", b"\r\n", b"abc", b"x" * 40, b"\xff", b"\x00", b"\x01\x02", "é".encode(), b"{"]
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_pieces, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20))
def test_chunking_never_changes_the_result(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    whole = frame(data, max_line=32, chunk=max(len(data), 1))
    splitter = LineSplitter(32)
    split: list[Item] = []
    pos = turn = 0
    while pos < len(data):
        size = cuts[turn % len(cuts)]
        split.extend(splitter.feed(data[pos : pos + size]))
        pos += size
        turn += 1
    split.extend(splitter.close())
    assert split == whole
    for item in whole:
        if isinstance(item, str):
            assert len(item.encode()) <= 32
        else:
            assert item.length > 32 or item.reason.startswith(("not UTF-8", "binary"))


GARBAGE_THEN_GOOD = r"""
import json, os, sys
out = sys.stdout.buffer
out.write(os.urandom(4095).replace(b"\n", b"\0") + b"\0\n")  # binary noise, no CR before the LF
out.write(b"\x00" * 100 + b"\n")                      # NULs
out.write(b"{" + b"a" * (5 << 20) + b"\n")            # a 5 MiB line
out.write(b"caf\xe9 latin-1\n")                       # not UTF-8
out.write(b'{"type": "usage", "input_tokens": 1\n')   # broken JSON
out.flush()
for i in range(1000):
    out.write(json.dumps({"type": "usage", "input_tokens": i, "output_tokens": 1}).encode() + b"\n")
"""


async def test_garbage_over_a_real_pipe_never_stops_the_good_lines() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GARBAGE_THEN_GOOD, stdout=asyncio.subprocess.PIPE
    )
    items: list[Item] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            async for item in read_lines(proc.stdout):
                items.append(item)
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    bad = [i for i in items if isinstance(i, MalformedLine)]
    good = [i for i in items if isinstance(i, str)]
    reasons = [b.reason.split(" (")[0] for b in bad]
    assert reasons == ["binary output", "binary output", "line over 1 MiB", "not UTF-8"]
    assert [b.length for b in bad] == [4096, 100, 1 + (5 << 20), 12]
    adapter = NativeAdapter("worker")
    events = [e for line in good for e in adapter.feed(line)]
    assert isinstance(events[0], MalformedOutput) and "half-written JSON" in events[0].reason
    usage = [e for e in events if isinstance(e, Usage)]
    assert [u.input_tokens for u in usage] == list(range(1000))


async def test_batches_end_with_the_partial_tail() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"one\ntwo\nthr")
    reader.feed_data(b"ee")
    reader.feed_eof()
    batches = [batch async for batch in read_line_batches(reader, chunk_size=5)]
    assert [item for batch in batches for item in batch] == ["one", "two", "three"]
    assert batches[-1] == ["three"]
