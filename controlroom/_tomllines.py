"""Reading TOML files for config and themes: every problem names its file and line.

An operator's config error must point at its line (``config.toml:23: …``);
``TomlKeyLines`` scans the text once, leniently, and maps every key path to
the line it is written on (tomllib keeps no line numbers). ``read_toml``
first refuses a text nested too deep (``_tomlnesting``).
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomlnesting import MAX_DEPTH, nesting_problem

__all__ = [
    "BARE_KEY",
    "BARE_KEY_ASSIGNMENT",
    "KeyPath",
    "TomlKeyLines",
    "format_key_path",
    "read_toml",
]


KeyPath = tuple[str | int, ...]
"""A key inside the config: ``("agents", 2, "budget", "max_tokens")``."""

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
BARE_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")
BARE_KEY_ASSIGNMENT = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=")
SCALAR = re.compile(r"[^,\]}\r\n#]*")


def format_key_path(path: KeyPath) -> str:
    """``("agents", 2, "budget")`` → ``agents[2].budget``; odd keys are quoted as in TOML."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if BARE_KEY.match(part) else json.dumps(part, ensure_ascii=False)
            out += f".{text}" if out else text
    return out


# --------------------------------------------------------------------------- locating keys


class TomlKeyLines:
    """The line each key path of a TOML text is written on.

    A lenient scanner, meant for text tomllib already accepted: it follows
    ``[table]`` and ``[[array]]`` headers (counting array entries), dotted
    keys, inline tables and arrays (recording each element's line), and
    steps over strings of every kind so a ``[[agents]]`` inside a string is
    not a header. ``table`` is the table in effect where the text ends,
    which locates syntax errors when scanning the text before one.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._i = 0
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self._arrays: dict[KeyPath, int] = {}  # array-of-tables path → current index
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        try:
            self._scan()
        except (IndexError, ValueError, tomllib.TOMLDecodeError):
            pass  # keep what was located so far; callers fall back to parents

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest parent written in the file."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    # -- scanning

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self._i) + 1

    def _peek(self, n: int = 1) -> str:
        return self._text[self._i : self._i + n]

    def _skip_blank(self) -> None:
        while self._peek() in (" ", "\t"):
            self._i += 1

    def _skip_space(self) -> None:
        """Whitespace, newlines and comments."""
        text = self._text
        while self._i < len(text):
            char = text[self._i]
            if char in " \t\r\n":
                self._i += 1
            elif char == "#":
                end = text.find("\n", self._i)
                self._i = len(text) if end < 0 else end
            else:
                return

    def _record(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    def _scan(self) -> None:
        while True:
            self._skip_space()
            if self._i >= len(self._text):
                return
            start = self._i
            line = self._line()
            if self._peek(2) == "[[":
                self._i += 2
                self.table = self._array_entry(self._read_key())
                self._skip_blank()
                self._i += 2  # ]]
                self._record(self.table, line)
            elif self._peek() == "[":
                self._i += 1
                self.table = self._resolve(self._read_key())
                self._skip_blank()
                self._i += 1  # ]
                self._record(self.table, line)
            else:
                self._key_value(self.table)
            if self._i == start:  # cannot happen on valid TOML; never loop forever
                return

    def _resolve(self, keys: KeyPath) -> KeyPath:
        """Header keys → concrete path, stepping into the latest entry of each array."""
        path: KeyPath = ()
        for key in keys:
            path += (key,)
            if path in self._arrays:
                path += (self._arrays[path],)
        return path

    def _array_entry(self, keys: KeyPath) -> KeyPath:
        parent = self._resolve(keys[:-1])
        array = parent + keys[-1:]
        self._arrays[array] = self._arrays.get(array, -1) + 1
        return array + (self._arrays[array],)

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        path = table + self._read_key()
        self._skip_blank()
        self._i += 1  # =
        self._skip_blank()
        self._record(path, line)
        self._read_value(path)

    def _read_key(self) -> KeyPath:
        keys: list[str] = []
        while True:
            self._skip_blank()
            char = self._peek()
            if char == '"':
                raw = self._read_string('"')
                keys.append(tomllib.loads(f"k = {raw}")["k"])
            elif char == "'":
                keys.append(self._read_string("'")[1:-1])
            else:
                match = BARE_KEY_PART.match(self._text, self._i)
                if match is None:
                    raise ValueError("not a key")
                keys.append(match.group())
                self._i = match.end()
            self._skip_blank()
            if self._peek() != ".":
                return tuple(keys)
            self._i += 1

    def _read_string(self, quote: str) -> str:
        """Steps over one string (any of the four kinds) and returns its source text."""
        text, start = self._text, self._i
        delim = quote * 3 if self._peek(3) == quote * 3 else quote
        self._i += len(delim)
        while self._i < len(text):
            if quote == '"' and text[self._i] == "\\":
                self._i += 2
            elif text.startswith(delim, self._i):
                self._i += len(delim)
                if len(delim) == 3:  # up to two quotes may end a multi-line string
                    for _ in range(2):
                        if self._peek() == quote:
                            self._i += 1
                return text[start : self._i]
            else:
                self._i += 1
        raise ValueError("unterminated string")

    def _read_value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in ('"', "'"):
            self._read_string(char)
        elif char == "{":
            self._i += 1
            while True:
                self._skip_space()
                if self._peek() in ("}", ""):
                    self._i += 1
                    return
                self._key_value(path)
                self._skip_space()
                if self._peek() == ",":
                    self._i += 1
        elif char == "[":
            self._i += 1
            index = 0
            while True:
                self._skip_space()
                if self._peek() in ("]", ""):
                    self._i += 1
                    return
                self.lines.setdefault(path + (index,), self._line())
                self._read_value(path + (index,))
                index += 1
                self._skip_space()
                if self._peek() == ",":
                    self._i += 1
        else:  # number, bool, date: up to the next delimiter
            match = SCALAR.match(self._text, self._i)
            assert match is not None  # the pattern matches the empty string
            self._i = max(match.end(), self._i + 1)


def read_toml(path: str | Path) -> tuple[str, dict[str, Any]]:
    """The text and data of a TOML file, or ``ConfigError`` saying what and where.

    An unreadable file, text that is not UTF-8 and a TOML syntax error each
    become one problem naming the file, the line and (where it can be told)
    the key, as every config and theme error does.
    """
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem(file, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([ConfigProblem(file, line, "", "not UTF-8 text")]) from None
    nested = nesting_problem(text)
    if nested is not None:
        line, _ = nested
        message = f"nested more than {MAX_DEPTH} levels deep (tables, keys, arrays together)"
        raise ConfigError([ConfigProblem(file, line, "", message)])
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, text, exc)]) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        long_number = re.search(r"[0-9_]{100,}", text)
        where = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        reason = f"a number too long to read ({str(exc).partition(':')[0]})"
        raise ConfigError([ConfigProblem(file, where, "", reason)]) from None


def _syntax_problem(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    message = str(exc)
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
    if match:
        message, line, where = match[1], int(match[2]), f" (column {match[3]})"
    else:
        message = re.sub(r" \(at end of document\)$", "", message)
        line, where = max(1, len(text.rstrip().splitlines())), " (at the end of the file)"
    message = re.sub(
        r"Cannot declare \(([^)]*)\) twice",
        lambda m: "table [" + ".".join(re.findall(r"'([^']*)'", m[1])) + "] is declared twice",
        message,
    )
    lines = text.splitlines()
    bad = lines[line - 1] if line <= len(lines) else ""
    header = bad.lstrip().startswith("[")
    path = TomlKeyLines("\n".join(lines[: line if header else line - 1])).table
    key = None if header else BARE_KEY_ASSIGNMENT.match(bad)
    if key:
        path += (key[1],)
    message = message[:1].lower() + message[1:]
    return ConfigProblem(file, line, format_key_path(path), f"TOML syntax error: {message}{where}")
