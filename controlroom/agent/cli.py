"""``controlroom agent [TASK]``: the worker's arguments and environment.

Where it finds the model: ``CONTROLROOM_MODEL_URL`` (the agent's own URL at
the metering proxy, set by the supervisor for every agent), else
``ANTHROPIC_BASE_URL``; and the key ``CONTROLROOM_MODEL_KEY`` (swap mode's
per-agent key), else ``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN`` (the
agent's own credential, in passthrough mode or outside controlroom).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["main", "settings_from"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlroom agent",
        description="The built-in worker: a Claude agent on the anthropic SDK that speaks "
        "controlroom's native protocol and ends with a structured handoff.",
    )
    parser.add_argument("task", nargs="?", default="", help="the task (default: $CONTROLROOM_TASK)")
    parser.add_argument("--role", help="the system prompt (default: $CONTROLROOM_ROLE)")
    parser.add_argument("--model", default="claude-sonnet-4-5", help="default: %(default)s")
    parser.add_argument("--max-tokens", type=int, default=4096, help="per turn (%(default)s)")
    parser.add_argument("--max-turns", type=int, default=12, help="default: %(default)s")
    parser.add_argument("--retries", type=int, default=3, help="API errors retried (%(default)s)")
    parser.add_argument(
        "--backoff", type=float, default=1.0, help="first retry delay, doubling (%(default)s s)"
    )
    return parser


def settings_from(argv: list[str] | None, env: Mapping[str, str]) -> Any:
    from controlroom.agent.worker import Settings

    args = _parser().parse_args(argv)
    if args.max_tokens < 1 or args.max_turns < 1 or args.retries < 0 or args.backoff < 0:
        raise SystemExit("controlroom agent: --max-tokens and --max-turns must be at least 1")
    return Settings(
        task=args.task or env.get("CONTROLROOM_TASK", ""),
        role=args.role if args.role is not None else env.get("CONTROLROOM_ROLE", ""),
        agent=env.get("CONTROLROOM_AGENT", ""),
        model=args.model,
        max_tokens=args.max_tokens,
        max_turns=args.max_turns,
        retries=args.retries,
        backoff_seconds=args.backoff,
        handoffs=_handoffs(env.get("CONTROLROOM_HANDOFF_FILE", "")),
    )


def _handoffs(path: str) -> list[dict[str, Any]]:
    if not path:
        return []
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return [h for h in data if isinstance(h, dict)] if isinstance(data, list) else []


def main(argv: list[str] | None = None) -> int:
    """Run the worker and leave: its exit code, with every line flushed.

    It leaves by ``os._exit``: Python's own teardown of the SDK's thousands of
    classes takes 2.5 s on a busy machine (measured), longer than many a task,
    and everything that matters is closed and flushed by then.
    """
    code = _run(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    import anthropic

    from controlroom.agent.protocol import Channel
    from controlroom.agent.worker import Worker

    env = os.environ
    settings = settings_from(argv, env)
    channel = Channel(handoffs_first=bool(env.get("CONTROLROOM_HANDOFF_FILE")))
    base_url = env.get("CONTROLROOM_MODEL_URL") or env.get("ANTHROPIC_BASE_URL") or None
    key = env.get("CONTROLROOM_MODEL_KEY") or env.get("ANTHROPIC_API_KEY") or None
    token = None if key else env.get("ANTHROPIC_AUTH_TOKEN") or None
    if key is None and token is None:
        channel.error(
            "no credential: run me under controlroom (CONTROLROOM_MODEL_KEY), or set "
            "ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN"
        )
        return 2
    # our retries, announced and bounded; the SDK's own would be silent
    client = anthropic.Anthropic(
        base_url=base_url, api_key=key, auth_token=token, max_retries=0, timeout=600
    )
    try:
        return Worker(settings, client, channel).run()
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
