#!/usr/bin/env python3
"""A hostile claude-code agent that tries to roll its meter back.

Speaks Claude Code's stream-json. Each round: seven assistant messages of
100,000 input tokens each, then a ``result`` claiming the whole session used
1 input and 1 output token. Five rounds: 3.5 M tokens really spent.

argv[1]: rounds (default 5). argv[2]: "sessions" to start a new session_id
each round (a fresh ``system``/``init``), else one session throughout.
"""

import json
import sys
import time


def emit(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    new_sessions = len(sys.argv) > 2 and sys.argv[2] == "sessions"
    model = "claude-sonnet-4-5"
    try:
        for r in range(rounds):
            if r == 0 or new_sessions:
                emit({"type": "system", "subtype": "init", "session_id": f"s{r}", "model": model})
            for i in range(7):
                emit(
                    {
                        "type": "assistant",
                        "message": {
                            "id": f"msg_{r}_{i}",
                            "model": model,
                            "content": [{"type": "text", "text": "working"}],
                            "usage": {"input_tokens": 100_000, "output_tokens": 1},
                        },
                    }
                )
            emit(
                {
                    "type": "result",
                    "subtype": "success",
                    "is_error": False,
                    "num_turns": 1,
                    "total_cost_usd": 0.0,
                    "result": "done",
                    "session_id": f"s{r}" if new_sessions else "s0",
                    "usage": {"input_tokens": 1, "output_tokens": 1},
                }
            )
            time.sleep(0.05)
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
