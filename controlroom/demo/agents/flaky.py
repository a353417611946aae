"""Demo flaky agent: crashes a few seconds in, every time, until its circuit breaker opens."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlroom.demo.agents._kit import HAIKU, DemoAgent
else:  # run as a script: _kit.py sits next to this file
    from _kit import HAIKU, DemoAgent

__all__: list[str] = []


def main() -> int:
    agent = DemoAgent(cached_prefix=3000)
    agent.status("connecting to staging-ledger:5432")
    agent.pause(0.8, 1.4)
    agent.tool("Bash", command="psql -h staging-ledger -c 'select count(*) from invoices'")
    agent.pause(0.5, 1.0)
    agent.turn(HAIKU, 900, 160)
    agent.status("syncing invoices 1-500")
    agent.pause(0.8, 1.4)
    message = "ConnectionResetError: [Errno 104] Connection reset by peer (staging-ledger:5432)"
    agent.error(message)
    print("Traceback (most recent call last):", file=sys.stderr)
    print('  File "sync_invoices.py", line 88, in fetch_page', file=sys.stderr)
    print(message, file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
