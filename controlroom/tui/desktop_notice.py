"""Desktop notifications through the dashboard's own terminal (the notifier's terminal channel).

The notifier (``ops.notify``) imports no Textual; while a dashboard owns the
swarm it hands the notifier this writer, so an OSC 9 / OSC 777 sequence goes
out through Textual's driver, between two of its frames, instead of being
written to the same terminal behind the driver's back. The sequence's text
is inert (``text.notice_text``): it cannot end the sequence early.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

__all__ = ["terminal_writer"]


def terminal_writer(app: App[Any]) -> Callable[[str], None]:
    """Writes an escape sequence through ``app``'s terminal; raises when it has none."""

    def write(sequence: str) -> None:
        driver = app._driver  # as App.bell writes its BEL
        if app.is_headless or driver is None:
            raise RuntimeError("the dashboard runs without a terminal")
        driver.write(sequence)

    return write
