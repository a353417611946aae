"""How deep a TOML text nests, found before tomllib parses it.

tomllib recurses once per array or inline table, so 50,000 of them nested
is a RecursionError; and ``TomlKeyLines`` records every prefix of a dotted
key, so a key of 50,000 parts is minutes of work. ``read_toml`` asks
``nesting_problem`` first and refuses a text nested deeper than
``MAX_DEPTH``, naming the line.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DEPTH", "nesting_problem"]

MAX_DEPTH = 32
"""How deep tables, dotted keys, arrays and inline tables may nest, all counted together.

The deepest a config or theme goes is ``agents[0].budget.max_tokens``: four."""


_MARK = re.compile(r"[\n#\"'\[\]{}.,=]")  # the characters the nesting scan acts on


def nesting_problem(text: str) -> tuple[int, int] | None:
    """``(line, depth)`` where ``text`` first nests deeper than ``MAX_DEPTH``, else None.

    A lenient, linear scan (tomllib still judges the syntax): strings and
    comments are stepped over; the depth at any point is the parts of the
    current ``[table]`` header, plus the parts of each key being read, plus
    one per array or inline table open around it.
    """
    scan = _NestingScan(text)
    return scan.run()


class _NestingScan:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.table = 0  # parts of the current [table] header
        self.depth = 1  # the first key's first part
        self.open: list[tuple[str, int]] = []  # open "[" / "{" of values, with the depth before
        self.in_key = True
        self.line_start = True

    def run(self) -> tuple[int, int] | None:
        text = self.text
        while (mark := _MARK.search(text, self.i)) is not None:
            if text[self.i : mark.start()].strip():
                self.line_start = False
            self.i = mark.start()
            too_deep = self.step(mark.group())
            if too_deep:
                return self.line, self.depth
        return None

    def step(self, char: str) -> bool:
        """Act on the mark at ``self.i`` and move past it; True once too deep."""
        text = self.text
        if char == "\n":
            self.line += 1
            self.i += 1
            if not self.open:  # a new line at the top: a key (or a header) comes next
                self.in_key, self.line_start, self.depth = True, True, self.table + 1
            return False
        if char == "#":
            end = text.find("\n", self.i)
            self.i = len(text) if end < 0 else end
            return False
        if char in "\"'":
            end = _string_end(text, self.i)
            self.line += text.count("\n", self.i, end)
            self.i, self.line_start = end, False
            return False
        header = char == "[" and self.in_key and self.line_start and not self.open
        self.line_start = False
        self.i += 1
        if header:
            return self.header()
        if self.in_key:
            if char == ".":
                self.depth += 1
            elif char == "=":
                self.in_key = False
            return self.depth > MAX_DEPTH
        if char in "[{":
            self.open.append((char, self.depth))
            self.depth += 1
            if char == "{":
                self.in_key, self.depth = True, self.depth + 1
        elif char in "]}" and self.open:
            _, self.depth = self.open.pop()
        elif char == "," and self.open and self.open[-1][0] == "{":
            self.in_key, self.depth = True, self.open[-1][1] + 2
        return self.depth > MAX_DEPTH

    def header(self) -> bool:
        """A ``[table]`` or ``[[array]]`` header: its parts are the depth of what follows."""
        text, parts = self.text, 1
        while self.i < len(text) and text[self.i] not in "]\n":
            if text[self.i] in "\"'":
                self.i = _string_end(text, self.i)
                continue
            parts += text[self.i] == "."
            self.i += 1
        self.table = self.depth = parts
        return parts > MAX_DEPTH


def _string_end(text: str, start: int) -> int:
    """The index just past the string (any of TOML's four kinds) starting at ``start``."""
    quote = text[start]
    delim = quote * 3 if text.startswith(quote * 3, start) else quote
    i = start + len(delim)
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
        elif text.startswith(delim, i):
            return i + len(delim)
        elif len(delim) == 1 and text[i] == "\n":
            return i  # an unterminated one-line string: tomllib will say so
        else:
            i += 1
    return len(text)
