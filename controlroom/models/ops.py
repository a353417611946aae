"""The config of operations out: ``[metrics]`` and ``[[notify]]`` (``controlroom.ops`` acts on it).

An operator does not watch the screen all night: these tables say where the
swarm's figures are served for a Prometheus to scrape, and who is told (a
webhook, a command, the dashboard's terminal) when something needs them.
Frozen and strict like the rest of the schema; the loader names file, line
and key for every problem.
"""

from __future__ import annotations

from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "NOTIFY_EVENTS",
    "MetricsSettings",
    "NotifyChannel",
    "NotifyEventName",
    "Notice",
    "NotifySpec",
    "parse_listen",
]

NotifyEventName = Literal[
    "gate_waiting",
    "budget_warning",
    "budget_stop",
    "breaker_open",
    "crash",
    "orphan_found",
    "collision",
    "swarm_finished",
]
"""What an operator can be told about (the ``events`` of a ``[[notify]]`` entry)."""

NOTIFY_EVENTS: tuple[str, ...] = get_args(NotifyEventName)

NotifyChannel = Literal["webhook", "command", "terminal"]


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` → host and port; ValueError saying why not.

    Port 0 asks the kernel for a free port (tests; the bound one is printed).
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f'must be HOST:PORT, e.g. "127.0.0.1:9464" (got {value!r})')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if number > 65535:
        raise ValueError(f"port must be at most 65535 (got {value!r})")
    return host, number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(_Strict):
    """``[metrics]``: serve ``/metrics`` for Prometheus. Off unless ``listen`` is set."""

    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value


class NotifySpec(_Strict):
    """One ``[[notify]]`` entry: which events, how often at most, and the channel.

    ``after_seconds`` is how long a gate must wait before ``gate_waiting``
    fires; ``min_interval_seconds`` is the quiet time per event kind and agent
    after a notification (a looping agent does not page twenty times).
    """

    name: str = ""
    events: list[NotifyEventName] = Field(min_length=1)
    channel: NotifyChannel
    after_seconds: float = Field(default=0.0, ge=0, le=7 * 86_400.0)
    min_interval_seconds: float = Field(default=60.0, ge=0, le=7 * 86_400.0)
    url: str = ""
    """``webhook``: where the JSON is POSTed (may use ``${NAME}``; redacted from the log)."""
    format: Literal["json", "slack", "osc9", "osc777"] | None = None
    """``webhook``: ``json`` (default), ``slack``; ``terminal``: ``osc9`` (default), ``osc777``."""
    command: list[str] = Field(default_factory=list)
    """``command``: the argv run per notification, the event as JSON on its stdin."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)

    def secrets(self) -> list[str]:
        """What of a webhook URL is a credential: the whole URL, its path and query, its password.

        Slack's and most chat webhooks carry their token in the path; the log
        names the endpoint by scheme and host only (``target``), and these
        values are redacted from anything else that quotes the URL.
        """
        if self.channel != "webhook" or not self.url:
            return []
        parts = urlsplit(self.url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        found = [self.url, tail if tail not in ("", "/") else "", parts.password or ""]
        return [value for value in found if value]

    @property
    def target(self) -> str:
        """The endpoint as the log names it: ``https://hooks.slack.com`` (no path, no token)."""
        if self.channel == "webhook":
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname or ''}" + (
                f":{parts.port}" if parts.port else ""
            )
        if self.channel == "command":
            return self.command[0] if self.command else ""
        return "terminal"


class Notice(BaseModel):
    """What a notification carries: the webhook's JSON body, the command's stdin.

    ``text`` is the one sentence for a human (inert: no control characters);
    ``event`` the fields of the audit event it tells of (redacted like the
    log), and ``seq`` that event's place in the run's log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["controlroom"] = "controlroom"
    notice: str
    swarm: str
    run: str
    agent: str | None = None
    text: str
    ts: float
    seq: int = 0
    waited_seconds: float | None = None
    event: dict[str, Any] = Field(default_factory=dict)
