"""``/metrics`` over HTTP: an aiohttp server on the supervisor's own event loop.

On the loop, not in prometheus_client's thread server: a scrape then reads
the supervisor between two of its steps, never halfway through one, and
needs no lock on the hot path. A scrape of 100 agents takes a few
milliseconds of the loop (``bench/metrics.py``). The registry holds the
swarm collector and the control room's own process figures
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``…).

An address that cannot be bound is the operator's to fix, so it is a
``ConfigError`` naming the key: ``metrics.listen: cannot listen on
127.0.0.1:9464: address already in use``, not a traceback.
"""

from __future__ import annotations

import errno
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from controlroom._errors import ConfigError, ConfigProblem
from controlroom.models import parse_listen
from controlroom.ops.metrics import SwarmCollector
from controlroom.swarm.supervisor import Supervisor

__all__ = ["MetricsServer", "metrics_registry"]


def metrics_registry(supervisor: Supervisor) -> CollectorRegistry:
    """The swarm's metrics and this process's own, in a registry of their own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SwarmCollector(supervisor))
    ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """Serves ``/metrics`` (and ``/`` with a pointer to it) on ``listen``."""

    def __init__(self, supervisor: Supervisor, listen: str) -> None:
        self.listen = listen
        self.host, self.port = parse_listen(listen)
        self._source = supervisor.config.source
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(metrics_registry(supervisor)))
        app.router.add_get("/", _index)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        """Bind and serve; ``port`` is the bound one (port 0 asks the kernel for a free one)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError([self._problem(exc)]) from None
        server: Any = site._server  # the bound sockets: the real port when 0 was asked
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    def _problem(self, exc: OSError) -> ConfigProblem:
        why = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            why = "address already in use (another control room, or another exporter?)"
        message = f"cannot listen on {self.listen}: {why}"
        return ConfigProblem(self._source or "--metrics", None, "metrics.listen", message)

    async def close(self) -> None:
        await self._runner.cleanup()


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="controlroom: metrics at /metrics\n")
