"""Themes as data: the shipped files, the loader's refusals, user overrides, packaging.

The shipped themes go through the real loader into a real (headless) Textual
app, and the test reads back the colour Textual computed for a widget styled
with each controlroom CSS variable, so a theme that loads but does not reach
the screen fails here.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.widgets import Static

from controlroom._errors import ConfigError, ConfigProblem
from controlroom.models import AgentState
from controlroom.tui.themes import (
    CSS_VARIABLES,
    DEFAULT_THEME,
    OWN_VARIABLES,
    STATUS_NAMES,
    ThemeSpec,
    builtin_theme_dir,
    css_variable_defaults,
    load_theme_file,
    load_themes,
    next_theme,
    register_themes,
    resolve_theme,
    status_variable,
    theme_dirs,
    to_textual,
    user_theme_dir,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("control-room", "daylight", "high-contrast")
DEFAULT_TEXT = (REPO / "themes" / "control-room.toml").read_text(encoding="utf-8")


@pytest.fixture
def builtin() -> dict[str, ThemeSpec]:
    themes, problems = load_themes([builtin_theme_dir()])
    assert problems == []
    return themes


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""

    def luminance(hex_color: str) -> float:
        color = Color.parse(hex_color)
        channels = [c / 255 for c in (color.r, color.g, color.b)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _variant(old: str, new: str, *, name: str = "broken") -> str:
    """The default theme's text renamed to ``name`` with one line replaced (or removed)."""
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace('name = "control-room"', f'name = "{name}"')
    return text.replace(old, new, 1)


def _line_of(text: str, fragment: str) -> int:
    """The first line (comments aside) starting with ``fragment``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(fragment))


# --------------------------------------------------------------------------- the shipped themes


def test_status_names_are_the_agent_states() -> None:
    states = {v for k, v in vars(AgentState).items() if k.isupper() and isinstance(v, str)}
    assert set(STATUS_NAMES) == states and len(STATUS_NAMES) == 12
    assert status_variable(AgentState.BUDGET_STOPPED) == "status-budget-stopped"
    assert set(CSS_VARIABLES) == {status_variable(s) for s in states} | set(OWN_VARIABLES)


def test_builtin_dir_is_the_checkout_themes_folder() -> None:
    # in a source checkout (editable install) there is no controlroom/_themes
    assert builtin_theme_dir() == REPO / "themes"
    assert not (REPO / "themes" / ".keep").exists()


def test_shipped_themes_load_complete(builtin: dict[str, ThemeSpec]) -> None:
    assert list(builtin) == list(SHIPPED)  # default first, then alphabetical
    assert [builtin[n].dark for n in SHIPPED] == [True, False, True]
    for spec in builtin.values():
        assert set(spec.status) == set(STATUS_NAMES)
        assert set(spec.css_variables()) >= set(CSS_VARIABLES)
        assert all(spec.status[s].startswith("#") and len(spec.status[s]) == 7 for s in spec.status)
        assert spec.description
        # each agent state has its own colour, and gated stands out from all others
        assert len(set(spec.status.values())) == len(STATUS_NAMES), spec.name
        theme = to_textual(spec)
        assert theme.name == spec.name and theme.dark == spec.dark
        assert theme.primary == spec.colors["primary"]
        assert theme.variables["status-gated"] == spec.status["gated"]


@pytest.mark.parametrize(("name", "minimum"), [("control-room", 4.5), ("daylight", 4.5),
                                               ("high-contrast", 7.0)])  # fmt: skip
def test_status_colours_are_readable(
    builtin: dict[str, ThemeSpec], name: str, minimum: float
) -> None:
    spec = builtin[name]
    own = {k: spec.variables[k] for k in OWN_VARIABLES}
    for ground in ("background", "surface"):
        for key, color in {**spec.status, **own}.items():
            ratio = _contrast(color, spec.colors[ground])
            assert ratio >= minimum, f"{name}: {key} {color} on {ground} is {ratio:.2f}:1"
    assert _contrast(spec.colors["foreground"], spec.colors["background"]) >= 7


def test_high_contrast_does_not_rely_on_red_and_green_alone(builtin: dict[str, ThemeSpec]) -> None:
    status = builtin["high-contrast"].status
    assert builtin["high-contrast"].colors["background"] == "#000000"
    # running and failed differ in lightness, not only in hue
    assert _contrast(status["running"], status["failed"]) >= 1.8
    assert status["gated"] == "#ffff00"


class ThemedApp(App[None]):
    """A minimal app styled only through controlroom's CSS variables."""

    CSS = "\n".join(f"#{name} {{ color: ${name}; }}" for name in CSS_VARIABLES)

    def __init__(self, themes: dict[str, ThemeSpec]) -> None:
        self.specs = themes
        super().__init__()
        register_themes(self, themes)
        self.theme = DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return css_variable_defaults(self.specs)

    def compose(self) -> ComposeResult:
        for name in CSS_VARIABLES:
            yield Static(name, id=name)


def _shown(app: App[Any], variable: str) -> str:
    return app.query_one(f"#{variable}", Static).styles.color.hex6.lower()


async def test_shipped_themes_style_a_real_app(builtin: dict[str, ThemeSpec]) -> None:
    app = ThemedApp(builtin)
    async with app.run_test() as pilot:
        for name in (*SHIPPED, DEFAULT_THEME):
            app.theme = name
            await pilot.pause()
            spec = builtin[name]
            assert app.current_theme.name == name
            for state, color in spec.status.items():
                assert _shown(app, status_variable(state)) == color, (name, state)
            assert _shown(app, "gate-alert") == spec.variables["gate-alert"]
            assert _shown(app, "meter-over") == spec.variables["meter-over"]
        # a Textual theme chosen from the command palette knows no $status-*: defaults apply
        app.theme = "nord"
        await pilot.pause()
        assert _shown(app, "status-running") == builtin[DEFAULT_THEME].status["running"]


# --------------------------------------------------------------------------- refusals


BAD_FILES = [
    # (what, old line, new line, reported key, the line the problem is on, words in the message)
    ("bad colour", 'running = "#5fd38d"', 'running = "#5fd38"', "status.running", "running =",
     "not a colour"),
    ("named colour typo", 'running = "#5fd38d"', 'running = "gren"', "status.running",
     "running =", "did you mean 'green'"),
    ("unknown key", 'accent = "#36c5c9"', 'acent = "#36c5c9"', "colors.acent", "acent =",
     "did you mean 'accent'"),
    ("unknown state", 'paused = "#7aa2f7"', 'paused = "#7aa2f7"\npausd = "#7aa2f7"',
     "status.pausd", "pausd =", "unknown key"),
    ("missing status", 'killed = "#f0506a"', "", "status.killed", "[status]",
     "required key is missing"),
    ("wrong type", "dark = true", 'dark = "yes"', "dark", "dark =", "expected true or false"),
    ("translucent status", 'gated = "#ffc940"', 'gated = "#ffc94080"', "status.gated",
     "gated =", "opaque"),
    ("ansi colour", 'done = "#86a192"', 'done = "ansi_green"', "status.done", "done =", "ANSI"),
    ("unknown variable", 'sparkline = "#4fa3ff"', 'sparklines = "#4fa3ff"',
     "variables.sparklines", "sparklines =", "did you mean 'sparkline'"),
    ("status as variable", 'sparkline = "#4fa3ff"', 'status-running = "#4fa3ff"',
     "variables.status-running", "status-running =", "[status]"),
    ("bad Textual value", 'sparkline = "#4fa3ff"', 'border = "x}y"', "variables.border",
     "border =", "not a CSS value"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key", "at", "words"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_theme_is_refused_with_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, at: str, words: str
) -> None:
    text = _variant(old, new)
    path = _write(tmp_path / "user", "broken.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_theme_file(path)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    line = _line_of(text, at)
    assert problems[0] == ConfigProblem(str(path), line, key, problems[0].message)
    assert words in problems[0].message
    assert f"{path}:{line}: {key}:" in str(caught.value)

    # next to the built-in themes the bad file is skipped, never fatal
    themes, found = load_themes([builtin_theme_dir(), path.parent])
    assert found == problems
    assert list(themes) == list(SHIPPED)
    spec, warning = resolve_theme("broken", themes)
    assert spec.name == DEFAULT_THEME
    assert warning is not None and "'broken'" in warning


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    text = _variant('killed = "#f0506a"', 'killed = 3\nkiled = "#f0506a"')
    text = text.replace("dark = true", "dark = 1").replace('primary = "#4fa3ff"\n', "")
    path = _write(tmp_path, "many.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_theme_file(path)
    assert {p.key for p in caught.value.problems} == {
        "dark",
        "colors.primary",
        "status.killed",
        "status.kiled",
    }
    killed = next(p for p in caught.value.problems if p.key == "status.killed")
    assert killed.line == _line_of(text, "killed = 3") and "got int 3" in killed.message


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        ('name = "x"\ndark = true\n[colors\nprimary = "#fff"\n', "[colors", "TOML syntax error"),
        ('name = "x"\ndark = true\n[colors]\nprimary = "#fff"\n', None, "[status] is missing"),
        (DEFAULT_TEXT.replace('"control-room"', '"no spaces"'), "name =", "not a theme name"),
        (DEFAULT_TEXT.replace("dark = true\n", ""), None, "dark: required key is missing"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, at: str | None, words: str) -> None:
    path = _write(tmp_path, "odd.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_theme_file(path)
    (problem,) = caught.value.problems
    assert words in str(problem) and problem.file == str(path)
    assert problem.line == (_line_of(text, at) if at else None)


def test_not_utf8_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "x"\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml:2: not UTF-8"):
        load_theme_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_theme_file(tmp_path / "absent.toml")


def test_two_files_with_one_name_in_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "themes"
    _write(folder, "a.toml", _variant("dark = true", "dark = true", name="twin"))
    second = _write(folder, "b.toml", _variant("dark = true", "dark = true", name="twin"))
    themes, problems = load_themes([folder])
    assert list(themes) == ["twin"] and themes["twin"].source == str(folder / "a.toml")
    line = _line_of(DEFAULT_TEXT, "name =")
    assert [(p.file, p.line, p.key) for p in problems] == [(str(second), line, "name")]
    assert "already defined" in problems[0].message


# --------------------------------------------------------------------------- user themes


def test_user_dir_follows_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert user_theme_dir(env) == tmp_path / "cfg" / "controlroom" / "themes"
    assert theme_dirs(env) == [builtin_theme_dir(), tmp_path / "cfg" / "controlroom" / "themes"]
    home = Path.home() / ".config" / "controlroom" / "themes"
    assert user_theme_dir({}) == home
    assert user_theme_dir({"XDG_CONFIG_HOME": "relative/dir"}) == home


def test_user_theme_overrides_builtin_and_adds_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    user = tmp_path / "controlroom" / "themes"
    override = _variant('running = "#5fd38d"', 'running = "#00ff00"', name="control-room")
    _write(user, "mine-default.toml", override)
    # a minimal user theme: no [variables], so controlroom's own are derived from it
    minimal = (
        'name = "aaa-minimal"\ndark = false\n[colors]\nprimary = "rgb(10, 20, 30)"\n[status]\n'
        + "".join(f'{s} = "#{i:02x}2040"\n' for i, s in enumerate(STATUS_NAMES))
    )
    _write(user, "minimal.toml", minimal)

    themes, problems = load_themes()
    assert problems == []
    assert list(themes) == ["control-room", "aaa-minimal", "daylight", "high-contrast"]
    assert themes["control-room"].status["running"] == "#00ff00"
    assert themes["control-room"].source == str(user / "mine-default.toml")
    assert themes["daylight"].source == str(builtin_theme_dir() / "daylight.toml")

    derived = themes["aaa-minimal"].variables
    status = themes["aaa-minimal"].status
    assert derived["gate-alert"] == derived["meter-warn"] == status["gated"]
    assert derived["meter-ok"] == status["running"]
    assert derived["meter-over"] == status["failed"]
    assert derived["sparkline"] == "#0a141e"
    assert set(to_textual(themes["aaa-minimal"]).variables) == set(CSS_VARIABLES)
    assert css_variable_defaults(themes)["status-running"] == "#00ff00"


# --------------------------------------------------------------------------- choosing a theme


def test_resolve_theme(builtin: dict[str, ThemeSpec]) -> None:
    assert resolve_theme("daylight", builtin) == (builtin["daylight"], None)
    assert resolve_theme(None, builtin) == (builtin[DEFAULT_THEME], None)
    spec, warning = resolve_theme("solarised", builtin)
    assert spec is builtin[DEFAULT_THEME]
    assert warning == (
        "unknown theme 'solarised'; using 'control-room' "
        "(known: control-room, daylight, high-contrast)"
    )
    with pytest.raises(ConfigError, match="no theme could be loaded"):
        resolve_theme("daylight", {})


def test_next_theme_cycles_default_first_then_alphabetical() -> None:
    names = ["zeta", "high-contrast", "Alpha", "control-room", "daylight"]
    seen = [DEFAULT_THEME]
    for _ in range(len(names)):
        seen.append(next_theme(seen[-1], names))
    assert seen == ["control-room", "Alpha", "daylight", "high-contrast", "zeta", "control-room"]
    assert next_theme("gone", names) == "control-room"
    assert next_theme("x", []) == "x"


# --------------------------------------------------------------------------- packaging


@pytest.mark.timeout(60)
def test_wheel_ships_the_themes_and_the_loader_finds_them(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building offline needs hatchling installed")
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)],
        check=True, capture_output=True, timeout=50,
    )  # fmt: skip
    (wheel,) = out.glob("controlroom-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"controlroom/_themes/{n}.toml" for n in SHIPPED} <= names
        assert "controlroom/tui/themes.py" in names
        site = tmp_path / "site"
        archive.extractall(site)

    # the unpacked wheel first on sys.path stands in for an installed one
    code = (
        "from controlroom.tui import themes\n"
        "found, problems = themes.load_themes([themes.builtin_theme_dir()])\n"
        "print(themes.__file__); print(themes.builtin_theme_dir())\n"
        "print(','.join(found)); print(len(problems))\n"
    )
    env = {"PYTHONPATH": str(site), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    module, folder, found, problems = result.stdout.split("\n")[:4]
    assert Path(module).is_relative_to(site)
    assert Path(folder) == site / "controlroom" / "_themes"
    assert found.split(",") == list(SHIPPED) and problems == "0"
