"""Demo runaway: a model loop that never converges, on the real Messages API, standard library only.

It sends the whole conversation every turn, as agents do, and appends each
turn's tool output, so every request is bigger than the last. It never
stops by itself. What stops it is the metering proxy at its
``CONTROLROOM_MODEL_URL``: the wire meter reaches the token cap (or admission
refuses a request that cannot fit it) and the governor kills it.

It also reports its usage the way Claude Code's transcripts do, with the
input as a placeholder (only what the turn added, not the context it
re-sent), so its own account falls far below what was served: the budget
uses the wire, and the disagreement is flagged. SIGTERM ends it at once.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

__all__: list[str] = []

MODEL = "claude-sonnet-4-5"
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]
DURATIONS = "".join(
    f"{0.41 + i * 0.37:.2f}s call     tests/test_{i:03d}.py::test_case_{i}\n" for i in range(80)
)


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def ask(url: str, key: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps(
        {"model": MODEL, "max_tokens": 1024, "tools": TOOLS, "messages": messages}
    ).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/v1/messages",
        body,
        {"content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    assert isinstance(answer, dict)
    return answer


def main() -> int:
    url = os.environ.get("CONTROLROOM_MODEL_URL", "")
    key = os.environ.get("CONTROLROOM_MODEL_KEY") or os.environ.get("ANTHROPIC_API_KEY", "")
    if not url:
        emit({"type": "error", "message": "no CONTROLROOM_MODEL_URL: run me under controlroom"})
        return 2
    task = sys.argv[1] if len(sys.argv) > 1 else "Make the test suite faster"
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"Your task: {task}"}]
    added = len(messages[0]["content"])
    while True:
        try:
            answer = ask(url, key, messages)
        except urllib.error.HTTPError as exc:  # refused by the proxy: try again, as runaways do
            emit({"type": "error", "message": f"model request failed: HTTP {exc.code}"})
            time.sleep(1.0)
            continue
        usage = answer.get("usage") or {}
        emit(
            {
                "type": "usage",
                "input_tokens": math.ceil(added / 4),  # the placeholder: only what it added
                "output_tokens": int(usage.get("output_tokens") or 0),
                "model": answer.get("model") or MODEL,
            }
        )
        content = answer.get("content") or []
        messages.append({"role": "assistant", "content": content})
        results = []
        for block in content:
            if block.get("type") == "text" and block.get("text"):
                emit({"type": "status", "text": block["text"]})
            elif block.get("type") == "tool_use":
                emit({"type": "tool", "name": block["name"], "input": block.get("input") or {}})
                output = f"{block.get('input', {}).get('command', '')}\n{DURATIONS}"
                results.append(
                    {"type": "tool_result", "tool_use_id": block["id"], "content": output}
                )
        if not results:
            results = [{"type": "text", "text": "Still too slow. Keep going."}]
        messages.append({"role": "user", "content": results})
        added = sum(len(json.dumps(r)) for r in results)


if __name__ == "__main__":
    sys.exit(main())
