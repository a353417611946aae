"""Demo runaway: never converges and spends fast, until the budget governor stops it (~15 s).

Its cap is ``max_tokens`` in the demo config. It stops by itself only after
five demo minutes, which in a working control room never comes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import SONNET, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import SONNET, DemoAgent

__all__: list[str] = []

GIVE_UP_SECONDS = 300.0
SUITES = ("checkout", "cart", "payments", "invoices", "refunds", "webhooks")


def main() -> int:
    agent = DemoAgent()
    attempt = 0
    while agent.elapsed() < GIVE_UP_SECONDS:
        attempt += 1
        suite = SUITES[attempt % len(SUITES)]
        agent.status(f"attempt {attempt}: shaving time off tests/{suite}")
        agent.tool("Bash", command=f"pytest -q tests/{suite} --durations=20 -p no:cacheprovider")
        agent.pause(0.12, 0.32)
        agent.turn(SONNET, 1250, 420, cached=False)
        agent.tool("Edit", file_path=f"tests/{suite}/conftest.py", old_string=f"# try {attempt}")
        agent.pause(0.12, 0.32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
