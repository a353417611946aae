"""``python -m controlroom.sim [--port N] [--script FILE]``: serve the simulator until Ctrl-C.

Prints the base URL (for ``ANTHROPIC_BASE_URL`` or ``[proxy] upstream``) on
its first line, then one line per answered request. Without ``--script`` it
plays a two-turn demo: a Bash ``echo hi``, then a final text with a handoff.
"""

from __future__ import annotations

import argparse
import sys
import time

from controlroom._errors import ControlRoomError
from controlroom.sim.script import Script, Turn, load_script
from controlroom.sim.server import SimServer

__all__ = ["DEMO_SCRIPT", "main"]

DEMO_SCRIPT = Script(
    [
        Turn.call("Bash", {"command": "echo hi", "description": "Say hi"}),
        Turn.say(
            "Done.\n```json\n"
            '{"changed": "nothing yet", "next_needs": "the plan", "risks": "none known"}\n```'
        ),
    ]
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controlroom.sim",
        description="A simulated Anthropic Messages API on 127.0.0.1 that follows a script.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--script",
        metavar="FILE",
        help='JSON list of turns: [{"text": ...}, {"tool": "Bash", "input": {...}}, ...]',
    )
    parser.add_argument("--api-key", help="require this key (default: accept any)")
    parser.add_argument(
        "--event-delay", type=float, default=0.0, help="seconds between streamed events"
    )
    args = parser.parse_args(argv)
    try:
        script = load_script(args.script) if args.script else DEMO_SCRIPT
        sim = SimServer(script, api_key=args.api_key, port=args.port, event_delay=args.event_delay)
    except ControlRoomError as exc:
        print(f"controlroom sim: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"controlroom sim: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    with sim:
        print(sim.url, flush=True)
        shown = 0
        try:
            while True:
                time.sleep(0.2)
                for served in sim.served[shown:]:
                    print(
                        f"{served.path} turn {served.turn} {served.stop_reason} "
                        f"in={served.input_tokens} out={served.output_tokens} "
                        f"cache_read={served.cache_read_input_tokens} "
                        f"cache_write={served.cache_creation_input_tokens}",
                        flush=True,
                    )
                    shown += 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
