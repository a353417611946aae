"""How the dashboard reaches a swarm: the control API, in-process or over the socket.

The screens never touch the supervisor: they hold a ``ControlPort`` and use
three things — ``snapshot()`` (everything on screen, as JSON data), ``call(op,
args)`` (a command or query of the control API, raising ``ControlError``
when refused) and ``events()`` (every event as it happens, as JSON data, for
alerts and the live log). ``LocalPort`` wraps a ``ControlAPI`` in this
process; ``RemotePort`` speaks to a control socket, so the same dashboard
attaches to a headless swarm. This module imports no Textual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, cast

from controlroom.control.api import COMMANDS, ControlAPI, check_writable, to_json

__all__ = ["COMMANDS", "ControlPort", "LocalPort", "RemotePort"]


class ControlPort(Protocol):
    """The dashboard's only way to a swarm."""

    read_only: bool
    description: str

    async def snapshot(self) -> dict[str, Any]: ...

    async def call(self, op: str, args: dict[str, Any] | None = None) -> Any: ...

    def events(self) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


class LocalPort:
    """The control API of a supervisor running in this process."""

    def __init__(self, api: ControlAPI, *, read_only: bool = False) -> None:
        self.api = api
        self.read_only = read_only or api.read_only
        self.description = f"run {api.supervisor.run_id} (in this process)"

    async def snapshot(self) -> dict[str, Any]:
        return cast("dict[str, Any]", to_json(self.api.snapshot()))

    async def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        check_writable(self.read_only, op)
        return to_json(await self.api.call(op, args or {}))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        subscription = self.api.subscribe()
        try:
            while (event := await subscription.get()) is not None:
                yield event.model_dump(mode="json")
        finally:
            subscription.close()

    async def close(self) -> None:
        return None


class RemotePort:
    """The control API of a swarm running elsewhere, over its unix socket."""

    def __init__(self, socket: Path, *, read_only: bool = False) -> None:
        from controlroom.control.client import AsyncControlClient

        self.client = AsyncControlClient(socket)
        self.read_only = read_only
        self.description = f"attached to {socket}"

    async def snapshot(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.request("snapshot")
        return result

    async def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        check_writable(self.read_only, op)
        # Commands may block (a graceful stop waits out grace periods): no client timeout.
        return await self.client.request(op, args or {}, timeout=float("inf"))

    def events(self) -> AsyncIterator[dict[str, Any]]:
        return self.client.subscribe()

    async def close(self) -> None:
        await self.client.close()
