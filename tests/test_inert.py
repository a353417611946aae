"""Agent text is inert: no escape sequence or control an agent writes reaches a terminal.

The attacks of issue 10 (finding 5), each as an agent would print it in a
status, a tool name, an error or a gate title: retitle the window, clear the
screen, overwrite a line with a forged "gate approved", hide text, write the
clipboard (OSC 52), in their 7-bit and 8-bit forms.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlroom.inert import LINE_BREAK, inert, inert_line, json_inert

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
ATTACKS = {
    "window title (OSC 0, BEL)": f"deploy{ESC}]0;pwned{BEL} now",
    "window title (OSC 2, ST)": f"deploy{ESC}]2;pwned{ST} now",
    "clear screen": f"deploy{ESC}[2J{ESC}[H now",
    "forged line": f"deploy now\r{ESC}[K fake: gate approved",
    "hidden text": f"deploy {ESC}[8msecretly rm -rf /{ESC}[0m now",
    "clipboard (OSC 52)": f"deploy{ESC}]52;c;cm0gLXJmIH4={BEL} now",
    "8-bit CSI": "deploy\x9b2J now",
    "8-bit OSC": "deploy\x9d0;pwned\x9c now",
    "DCS": f"deploy{ESC}Pq#0;2;0;0;0{ST} now",
    "backspace": "deploy now\b\b\bNOT",
    "bell": f"deploy{BEL} now",
    "charset switch": f"deploy{ESC}(0 now",
    "terminal reset": f"deploy{ESC}c now",
    "bidi override": "deploy \u202eworc\u202c now",
    "cut-short OSC": f"deploy now{ESC}]0;pwned",
}
# nothing a terminal obeys may survive: C0 but tab/newline, DEL, C1, bidi/zero-width
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


@pytest.mark.parametrize("text", ATTACKS.values(), ids=ATTACKS.keys())
def test_every_attack_is_stripped_and_the_words_kept(text: str) -> None:
    for cleaned in (inert(text), inert_line(text)):
        assert FORBIDDEN.search(cleaned) is None, repr(cleaned)
        assert cleaned.startswith("deploy"), repr(cleaned)
    assert "\n" not in inert_line(text)


def test_what_each_attack_leaves() -> None:
    assert inert_line(ATTACKS["window title (OSC 0, BEL)"]) == "deploy now"
    assert inert_line(ATTACKS["clipboard (OSC 52)"]) == "deploy now"
    assert inert_line(ATTACKS["clear screen"]) == "deploy now"
    # the forged words stay visible as what they are: text after the agent's own
    assert inert_line(ATTACKS["forged line"]) == "deploy now fake: gate approved"
    assert inert_line(ATTACKS["hidden text"]) == "deploy secretly rm -rf / now"
    assert inert_line(ATTACKS["8-bit OSC"]) == "deploy now"
    assert inert_line(ATTACKS["cut-short OSC"]) == "deploy now0;pwned"


def test_lines_and_tabs() -> None:
    text = "one\ntwo\r\nthree\u2028four\tfive"
    assert inert(text) == "one\ntwo\nthree\u2028four\tfive"
    assert inert_line(text) == f"one{LINE_BREAK}two{LINE_BREAK}three{LINE_BREAK}four five"
    fake = "working\n07:00:00 #99     -              run ended: success"
    assert "\n" not in inert_line(fake)  # an agent cannot print a line of the log


def test_clean_text_is_returned_as_it_is() -> None:
    text = 'Bash {"command": "pytest -q"} — naïve café ✓ 日本語'
    assert inert(text) is text and inert_line(text) is text


@given(st.text(st.characters(exclude_categories=())))
def test_any_text_comes_out_inert_and_stays_so(text: str) -> None:
    once = inert_line(text)
    assert FORBIDDEN.search(once) is None and "\n" not in once
    assert inert_line(once) == once
    multi = inert(text)
    assert FORBIDDEN.search(multi) is None and inert(multi) == multi


@given(st.text(st.characters(exclude_categories=())))
def test_json_output_stays_exact_and_shows_nothing_raw(text: str) -> None:
    line = json_inert(json.dumps({"text": text}, ensure_ascii=False))
    assert json.loads(line) == {"text": text}  # exactly the original once decoded
    assert FORBIDDEN.search(line) is None
    assert "\u2028" not in line and "\u2029" not in line


def test_json_escapes_what_json_dumps_leaves_raw() -> None:
    raw = json.dumps({"t": "a\x9b2Jb\u202ec"}, ensure_ascii=False)
    assert "\x9b" in raw  # json.dumps alone writes the 8-bit CSI as it is
    assert json_inert(raw) == '{"t": "a\\u009b2Jb\\u202ec"}'


def test_the_dashboards_line_filter_cleans_text_and_keeps_control_segments() -> None:
    from rich.segment import Segment
    from rich.style import Style
    from textual.color import Color

    from controlroom.tui.inert_filter import InertFilter

    bold = Style(bold=True)
    cursor = Segment("\x1b[5;1H", None, [])  # Textual's own control segment: left as it is
    line = [Segment("deploy", bold), Segment(ATTACKS["clipboard (OSC 52)"]), cursor]
    out = InertFilter().apply(line, Color(0, 0, 0))
    assert out[0] is line[0] and out[2] is cursor
    assert out[1] == Segment("deploy now", None)
    clean = [Segment("all fine", bold)]
    assert InertFilter().apply(clean, Color(0, 0, 0)) is clean
