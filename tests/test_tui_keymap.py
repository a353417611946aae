"""The operator's keymap: a real ``keymap.toml`` in the user config dir, pressed under Pilot.

The dashboard is built as ``controlroom tui`` builds it (``tui_harness.dashboard``)
with ``$XDG_CONFIG_HOME`` pointing at a temp folder that holds the keymap. What
must hold: the operator's keys act and the replaced defaults do not, a bad line
is reported with file, line and key while every good line still applies, and
help shows the keys in effect.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from swarmkit import sleeper
from tui_harness import dashboard, isolated_config  # noqa: F401 - a fixture

from controlroom.tui.keymap import load_keymap, valid_key
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.help import HelpRow, HelpScreen
from controlroom.tui.screens.main import MainScreen

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated_config")]

KEYMAP = """\
# my keys
kill-agent = "K"
approve-gate = "A,ctrl+a"
bogus-id = "z"
kil-agent = "k"
pause-agent = "ctrl+nonsense"
reset-breaker = 7
"""


def write_keymap(config_home: Path, text: str = KEYMAP) -> Path:
    path = config_home / "controlroom" / "keymap.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_bad_line_is_named_by_file_line_and_key(isolated_config: Path) -> None:  # noqa: F811
    path = write_keymap(isolated_config)
    keymap, problems = load_keymap()  # the user's, found through $XDG_CONFIG_HOME
    assert keymap == {"kill-agent": "K", "approve-gate": "A,ctrl+a"}
    assert [str(p) for p in problems] == [
        f"{path}:4: bogus-id: no binding has this id (see the help screen, '?')",
        f"{path}:5: kil-agent: no binding has this id (did you mean 'kill-agent'?)",
        f"{path}:6: pause-agent: not a key: 'ctrl+nonsense'",
        f"{path}:7: reset-breaker: expected a key, "
        'e.g. "K", "ctrl+k" or "K,f2" (or a list of them)',
    ]
    path.write_text('kill-agent = "K"\nthis is not toml\n')
    keymap, problems = load_keymap(path)
    assert keymap == {} and len(problems) == 1 and problems[0].line == 2
    assert load_keymap(isolated_config / "absent.toml") == ({}, [])


@pytest.mark.parametrize("key", ["x", "X", "ctrl+x", "f2", "question_mark", "slash", "shift+tab"])
def test_keys_textual_can_name(key: str) -> None:
    assert valid_key(key)


@pytest.mark.parametrize("key", ["", "ctrl+", "hyperspace", "ctrl+nonsense", "control+x"])
def test_keys_it_cannot(key: str) -> None:
    assert not valid_key(key)


async def test_the_operators_keys_act_and_help_shows_them(
    tmp_path: Path,
    isolated_config: Path,  # noqa: F811
) -> None:
    path = write_keymap(isolated_config)
    async with dashboard(tmp_path, [sleeper("s")]) as d:
        await d.ready("s")
        await d.shows("s", {"running"})
        skipped = [n.message for n in d.notes if n.message.startswith("key skipped: ")]
        assert f"key skipped: {path}:4: bogus-id: no binding has this id" in skipped[0]
        assert len(skipped) == 4

        await d.select("s")
        await d.pilot.press("x")  # the default kill key no longer kills
        await d.pilot.pause(0.2)
        assert isinstance(d.app.screen, MainScreen)
        await d.pilot.press("K")
        modal = await d.on_screen(ConfirmModal)
        assert "s" in modal.question
        await d.pilot.press("n")
        await d.until(lambda: isinstance(d.app.screen, MainScreen))
        assert d.state("s") == "running"

        await d.pilot.press("question_mark")
        help_screen = await d.on_screen(HelpScreen)
        rows = {row.entry.binding_id: row.entry for row in help_screen.query(HelpRow)}
        assert rows["kill-agent"].key == "K"
        assert rows["approve-gate"].key == "A/^a"
        assert rows["pause-agent"].key == "p"  # its bad line left the default in place
