"""The headless core must never import Textual: checked in a fresh interpreter per module.

As in harlequin's import-hygiene test: the CLI verbs that need no screen
(check, audit, status, approve, hook) start fast and run on machines with no
terminal, so ``textual`` must not be in ``sys.modules`` after importing them.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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
        names.extend(
            f"{package}.{info.name}" for info in pkgutil.iter_modules(mod.__path__)
        )
    return sorted(set(names))


@pytest.mark.parametrize("module", _headless_modules())
def test_headless_module_does_not_import_textual(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"


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
