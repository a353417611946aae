"""A handoff's account of its work held against its diff: where ``changed`` and git disagree.

Three things are listed (shown at the gate, never blocking):

* files the handoff names that the diff does not touch;
* a claim of changes when the diff is empty;
* files the diff changed that the handoff never mentions.

Reading file names out of prose is a heuristic: a word counts as a file
when it has a ``/`` in it, or it names a file the repository has, or it
ends in a common source extension (``Node.js`` and the like excepted). A
changed file counts as mentioned by its path, its name, or a folder it is
in. Pure: text and paths in, ``Discrepancy`` values out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from controlroom.models import Discrepancy, FileChange

__all__ = ["MAX_LISTED", "handoff_discrepancies", "named_paths"]

MAX_LISTED = 20

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_TOKEN = re.compile(r"(?<![\w/.-])(?:\.{0,2}/)?([\w.-]+(?:/[\w.-]+)*/?)")
_SOURCE_EXTENSIONS = frozenset(
    "py pyi js jsx ts tsx mjs cjs md rst txt toml json yaml yml cfg ini lock mod sum rs go c h "
    "cc cpp hpp java kt rb php cs sh sql html css scss xml gradle swift lua ex exs hs ml r jl "
    "dart proto tf vue svelte ipynb csv".split()
)
_FRAMEWORK = re.compile(r"^[A-Z][\w]*\.js$")  # Node.js, Vue.js: names, not files
_NO_CHANGES = re.compile(
    r"\b(no|nothing|none|not|without)\b[^.]{0,40}\b(change|changed|changes|edit|edits|edited|"
    r"modif\w*|files?|code)\b|\bread[- ]only\b",
    re.IGNORECASE,
)


def _is_file_claim(token: str, known: Collection[str]) -> bool:
    """A file or folder name, not a word (``and/or``, ``Node.js``, ``e.g.``, ``v2.31.0``)?"""
    name = token.rstrip("/")
    if name in known or (token.endswith("/") and len(name) > 1):
        return True
    stem, dot, ext = name.rsplit("/", 1)[-1].rpartition(".")
    if not dot or len(stem) < 2 or _FRAMEWORK.match(name):
        return False
    return ext.lower() in _SOURCE_EXTENSIONS


def _known(paths: Collection[str]) -> set[str]:
    """Every path, file name and folder (with its parents) of ``paths``."""
    known: set[str] = set()
    for path in paths:
        known.add(path)
        parts = path.split("/")
        known.add(parts[-1])
        known.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return known


def named_paths(text: str, known_paths: Collection[str] = ()) -> list[str]:
    """The file and folder names a piece of prose mentions, in order, each once."""
    known = _known(known_paths)
    found: dict[str, None] = {}
    for match in _TOKEN.finditer(_URL.sub(" ", text)):
        token = match.group(1).rstrip(".,;:")
        if token and _is_file_claim(token, known):
            found[token] = None
    return list(found)


def _covers(token: str, path: str) -> bool:
    """Does the mention ``token`` refer to ``path`` (the path, its name, or a folder of it)?"""
    name = token.rstrip("/")
    return path == name or path.endswith("/" + name) or path.startswith(name + "/")


def handoff_discrepancies(
    changed: str, files: Sequence[FileChange], known_paths: Collection[str] = ()
) -> list[Discrepancy]:
    """Where the handoff's ``changed`` text and the diff disagree.

    ``known_paths`` (the base commit's files) helps tell file names from other words.
    """
    paths = [f.path for f in files]
    named = named_paths(changed, {*known_paths, *paths})
    found = [
        Discrepancy(
            kind="claimed_untouched",
            path=token,
            text=f"names {token}, which the diff does not touch",
        )
        for token in named
        if not any(_covers(token, p) for p in paths)
    ]
    if not files and not _NO_CHANGES.search(changed):
        found.append(
            Discrepancy(
                kind="claimed_empty", text="claims changes, but the diff against its base is empty"
            )
        )
    unmentioned = [f for f in files if not any(_covers(t, f.path) for t in named)]
    for change in unmentioned[:MAX_LISTED]:
        found.append(
            Discrepancy(
                kind="unmentioned",
                path=change.path,
                text=f"changed {change.path} ({change.counts()}) but never mentions it",
            )
        )
    if len(unmentioned) > MAX_LISTED:
        more = len(unmentioned) - MAX_LISTED
        found.append(
            Discrepancy(kind="unmentioned", text=f"and {more} more changed files never mentioned")
        )
    return found
