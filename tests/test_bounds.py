"""Bounds: every number in a config has a sane range, and no file is nested without limit.

Written as the unlucky operator (or a hostile file) of issue 10, finding 9:
``kill_grace_seconds = 1e308`` was accepted and a kill then hung;
``max_tokens = 1e308`` produced a 309-digit message; a config or theme
nested 50,000 levels deep crashed with a RecursionError (arrays, inline
tables) or ran for minutes (dotted keys, table headers). Each must now be a
one-line problem naming the file, the line and the key.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import annotated_types
import pytest
from clikit import ROOT, controlroom
from pydantic import BaseModel

from controlroom._errors import ConfigError
from controlroom.config import load_config
from controlroom.models import AgentSpec, Breaker, Budget, Pricing, SwarmSettings

AGENT = '[[agents]]\nname = "a"\ncommand = ["echo", "hi"]\n'
DEEP = 50_000


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return [str(p) for p in info.value.problems]


def _numbers(model: type[BaseModel]) -> list[tuple[str, type]]:
    out = []
    for name, field in model.model_fields.items():
        kinds = {a for a in typing.get_args(field.annotation) if a is not type(None)}
        kinds = kinds or {field.annotation}
        if kinds & {int, float}:
            out.append((name, int if int in kinds else float))
    return out


# where each model's keys are written in a config file
TABLES: dict[type[BaseModel], str] = {
    Budget: "[defaults.budget]",
    Breaker: "[defaults.breaker]",
    AgentSpec: "[defaults]",
    SwarmSettings: '[swarm]\nname = "t"',
    Pricing: '[pricing."my-model"]',
}
NUMBER_KEYS = [(model, name, kind) for model in TABLES for name, kind in _numbers(model)]


def test_every_number_in_the_config_has_an_upper_bound() -> None:
    """A new numeric key without a sane range fails here, not in an operator's kill."""
    assert len(NUMBER_KEYS) >= 18
    for model, name, _ in NUMBER_KEYS:
        metadata = model.model_fields[name].metadata
        assert any(isinstance(m, annotated_types.Le) for m in metadata), (model.__name__, name)


@pytest.mark.parametrize(
    ("model", "key", "kind"), NUMBER_KEYS, ids=[f"{m.__name__}.{k}" for m, k, _ in NUMBER_KEYS]
)
@pytest.mark.parametrize(
    "value", ["1e308", "inf", "nan", "9" * 400], ids=["1e308", "inf", "nan", "400-digits"]
)
def test_an_absurd_number_is_refused_in_one_short_line(
    tmp_path: Path, model: type[BaseModel], key: str, kind: type, value: str
) -> None:
    if kind is int and not value.isdigit():
        value = "9" * 400  # an int key given a float is refused as a type; keep it an int
    header = TABLES[model]
    if model is Pricing:  # the two required prices, unless one is the key under test
        header = '[pricing."my-model"]' + "".join(
            f"\n{k} = 1.0" for k in ("input_per_mtok", "output_per_mtok") if k != key
        )
    text = f"{header}\n{key} = {value}\n\n{AGENT}"
    (found,) = [p for p in problems(tmp_path, text) if f".{key}:" in p or p.split(": ")[1] == key]
    line = header.count("\n") + 2
    assert found.startswith(f"{tmp_path / 'config.toml'}:{line}: "), found
    assert len(found) < 200 + len(str(tmp_path)), found  # no 309-digit message
    assert "at most" in found or "finite" in found, found


def test_kill_grace_of_1e308_is_refused_naming_the_range(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, f"[defaults.budget]\nkill_grace_seconds = 1e308\n\n{AGENT}")
    assert found.endswith(
        "config.toml:2: defaults.budget.kill_grace_seconds: must be at most 600 (got 1e+308)"
    )


def test_max_tokens_of_1e308_is_a_short_message(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, f"[defaults.budget]\nmax_tokens = 1e308\n\n{AGENT}")
    message = "config.toml:2: defaults.budget.max_tokens: must be an integer (got 1e+308)"
    assert found.endswith(message)


def test_a_number_too_long_for_python_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    text = f'[swarm]\nname = "t"\n\n[defaults.budget]\nmax_tokens = {"9" * 5000}\n\n{AGENT}'
    (found,) = problems(tmp_path, text)
    assert found.startswith(f"{tmp_path / 'config.toml'}:5: ") and "digits" in found
    assert len(found) < 300 + len(str(tmp_path))


NESTINGS = {
    "arrays": f'[swarm]\nname = "t"\n\n{AGENT}task = ' + "[" * DEEP + "]" * DEEP + "\n",
    "inline tables": '[swarm]\nname = "t"\n\n' + AGENT + "budget = " + "{a = " * DEEP + "1"
    + "}" * DEEP + "\n",
    "dotted keys": '[swarm]\nname = "t"\n\n' + AGENT + "budget" + ".a" * DEEP + " = 1\n",
    "table header": '[swarm]\nname = "t"\n\n' + AGENT + "[agents.budget" + ".a" * DEEP + "]\n",
}  # fmt: skip


@pytest.mark.parametrize("text", NESTINGS.values(), ids=NESTINGS.keys())
def test_a_config_nested_without_limit_is_refused_naming_the_line(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    # a subprocess, so a RecursionError or a scan that never ends cannot take the suite down
    result = controlroom("check", str(path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2 or result.returncode == 1, result.stderr[-500:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"{path}:7:" in result.stderr and "nested" in result.stderr, result.stderr[-500:]
    assert len(result.stderr) < 500


@pytest.mark.parametrize("kind", ["arrays", "inline tables", "dotted keys"])
def test_a_theme_nested_without_limit_is_refused_naming_the_line(tmp_path: Path, kind: str) -> None:
    body = {
        "arrays": "x = " + "[" * DEEP + "]" * DEEP,
        "inline tables": "x = " + "{a = " * DEEP + "1" + "}" * DEEP,
        "dotted keys": "x" + ".a" * DEEP + " = 1",
    }[kind]
    theme = tmp_path / "deep.toml"
    theme.write_text(f'name = "deep"\ndark = true\n[colors]\n{body}\n', encoding="utf-8")
    code = (
        "import sys\n"
        "from controlroom._errors import ConfigError\n"
        "from controlroom.tui.themes import load_theme_file\n"
        "try:\n"
        f"    load_theme_file({str(theme)!r})\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout.startswith(f"{theme}:4:") and "nested" in result.stdout, result.stdout


# --------------------------------------------------------------------------- the nesting scan


def test_the_nesting_limit_is_exact_for_arrays() -> None:
    from controlroom._tomlnesting import MAX_DEPTH, nesting_problem

    arrays = MAX_DEPTH - 1  # the key itself is one level
    assert nesting_problem("x = " + "[" * arrays + "]" * arrays) is None
    assert nesting_problem("\n\nx = " + "[" * (arrays + 1) + "]" * (arrays + 1)) == (3, 33)


def test_ordinary_files_are_not_nested_however_long() -> None:
    from controlroom._tomlnesting import nesting_problem

    assert nesting_problem((ROOT / "config.toml").read_text()) is None
    for theme in (ROOT / "themes").glob("*.toml"):
        assert nesting_problem(theme.read_text()) is None, theme
    many_dotted = "[a.b.c]\n" + "".join(f"k{i}.x.y.z = {i}\n" for i in range(5000))
    assert nesting_problem(many_dotted) is None
    wide_inline = "t = {" + ", ".join(f"k{i}.a = [1, [2]]" for i in range(5000)) + "}\n"
    assert nesting_problem(wide_inline) is None
    long_array = "a = [\n" + "".join("  [1, {x = 2}],\n" for _ in range(5000)) + "]\n"
    assert nesting_problem(long_array) is None


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    from controlroom._tomlnesting import nesting_problem

    text = (
        's = "' + "[{" * 100 + '"\n'
        "l = '" + "[" * 100 + "'\n"
        'm = """\n' + "[[[.\n" * 50 + '"""\n'
        "# " + "[" * 100 + "\n"
        'e = "\\"[[[["\n'
        "deep = " + "[" * 40 + "]" * 40 + "\n"
    )
    assert nesting_problem(text) == (57, 33)  # its line, past the multi-line string
