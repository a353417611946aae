"""The headless core must never import Textual: checked module by module.

As in harlequin's import-hygiene test: the CLI verbs that need no screen
(check, audit, status, approve, hook) start fast and run on machines with no
terminal, so ``textual`` must not be in ``sys.modules`` after importing them.

One fresh interpreter imports every module in turn and reports, after each,
what of Textual ``sys.modules`` holds. ``sys.modules`` only grows, so while it
holds no Textual, none of the modules imported so far imports it: the same
answer as a fresh interpreter per module, for one import of their shared
dependencies (a fresh interpreter each was 160 starts, each importing the
models and some the anthropic SDK: 128 s against 8 s for the file at load 8).
The first module after which Textual shows is the one that imports it; the
probe stops there, and every module after it is checked in a fresh
interpreter of its own, as before.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

import controlroom

HEADLESS_PACKAGES = (
    "controlroom.models",
    "controlroom.policy",
    "controlroom.process",
    "controlroom.adapters",
    "controlroom.store",
    "controlroom.swarm",
    "controlroom.ops",
    "controlroom.control",
    "controlroom.sim",
    "controlroom.proxy",
    "controlroom.agent",
)
HEADLESS_MODULES = (
    "controlroom",
    "controlroom.config",
    "controlroom.text",
    "controlroom.inert",
    "controlroom.cli",
)


def _headless_modules() -> list[str]:
    names = list(HEADLESS_MODULES)
    for package in HEADLESS_PACKAGES:
        mod = __import__(package, fromlist=["__path__"])
        names.append(package)
        names.extend(f"{package}.{info.name}" for info in pkgutil.iter_modules(mod.__path__))
    return sorted(set(names))


PROBE = """
import importlib, json, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        print(json.dumps([name, None, traceback.format_exc()]))
        break
    bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))
    print(json.dumps([name, bad, None]), flush=True)
    if bad:
        break
"""
"""Imports the modules named in argv in turn; a JSON line after each: [name, textual modules
loaded so far, or null and the traceback of a failed import]. Stops at the first that loads
Textual or fails: the ones after it are not answered."""


@dataclass(frozen=True)
class Probed:
    """What the probe said of one module: the Textual modules it loaded, or why it failed."""

    textual: list[str]
    error: str | None


@pytest.fixture(scope="module")
def probed() -> dict[str, Probed]:
    """The shared probe's answer for every module up to the first that loads Textual or fails."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *_headless_modules()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    answers: dict[str, Probed] = {}
    for line in out.stdout.splitlines():
        name, bad, error = json.loads(line)
        answers[name] = Probed(bad or [], error)
    return answers


def _fresh_probe(module: str) -> Probed:
    """A fresh interpreter of its own: for a module the shared probe did not reach."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=60
    )
    ((name, bad, error),) = [json.loads(line) for line in out.stdout.splitlines()]
    assert name == module, out.stderr
    return Probed(bad or [], error)


@pytest.mark.parametrize("module", _headless_modules())
def test_headless_module_does_not_import_textual(module: str, probed: dict[str, Probed]) -> None:
    result = probed.get(module) or _fresh_probe(module)
    assert result.error is None, f"importing {module} failed:\n{result.error}"
    assert result.textual == [], f"{module} imports {','.join(result.textual)}"


def test_cli_parser_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from controlroom.cli import build_parser\n"
        "build_parser()\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


def test_package_version_is_exposed() -> None:
    assert controlroom.__version__.count(".") == 2
