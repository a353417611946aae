"""Loading config.toml: find it, read it, build the whole ``SwarmConfig`` or raise every problem.

The tables of the swarm (``[swarm]``, ``[proxy]``, ``[pricing]``,
``[metrics]``, ``[[notify]]``) are read here; the agents by agents.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controlroom._errors import ConfigError, ConfigProblem
from controlroom._tomllines import KeyPath, TomlKeyLines, read_toml
from controlroom.config.agents import AgentsReader
from controlroom.config.messages import got, unknown_key
from controlroom.config.reader import ENV_NAME, Reader, under
from controlroom.models import (
    DEFAULT_PRICING,
    MetricsSettings,
    NotifySpec,
    Pricing,
    ProxySettings,
    SwarmConfig,
    SwarmSettings,
)

__all__ = ["TOP_LEVEL_KEYS", "find_config", "load_config"]

TOP_LEVEL_KEYS = ("swarm", "proxy", "defaults", "agents", "pricing", "metrics", "notify")


def find_config(arg: str | None) -> Path:
    """The config to use: ``arg`` (a file, or a folder holding config.toml), else ./config.toml."""
    path = Path(arg) if arg else Path("config.toml")
    if path.is_dir():
        path = path / "config.toml"
    if not path.is_file():
        hint = "" if arg else " (pass the config file, or run where ./config.toml is)"
        raise ConfigError([ConfigProblem(str(path), None, "", f"no such config file{hint}")])
    return path


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> SwarmConfig:
    """Read, merge and validate a swarm config; raise ``ConfigError`` listing every problem.

    ``environ`` (default ``os.environ``) supplies ``${NAME}`` and ``~`` in paths.
    """
    file = str(path)
    text, data = read_toml(path)
    loader = _Loader(
        file, TomlKeyLines(text), Path(path), os.environ if environ is None else environ
    )
    return loader.build(data)


class _Loader(Reader):
    """Builds one ``SwarmConfig``, collecting every problem before raising."""

    def build(self, data: Mapping[str, Any]) -> SwarmConfig:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.add((key,), unknown_key(key, TOP_LEVEL_KEYS))
        swarm = self.validate(SwarmSettings, self.table(data, "swarm"), under(("swarm",)))
        proxy = self.validate(ProxySettings, self.table(data, "proxy"), under(("proxy",)))
        pricing = self.pricing(self.table(data, "pricing"))
        agents = AgentsReader(self).read(self.table(data, "defaults"), data.get("agents", []))
        metrics = self.validate(MetricsSettings, self.table(data, "metrics"), under(("metrics",)))
        notify = self.notify(data.get("notify", []))
        if swarm is not None:
            swarm = swarm.model_copy(
                update={
                    "audit_db": self.path(("swarm", "audit_db"), swarm.audit_db),
                    "run_dir": self.path(("swarm", "run_dir"), swarm.run_dir),
                    "anchor_file": None
                    if swarm.anchor_file is None
                    else self.path(("swarm", "anchor_file"), swarm.anchor_file),
                }
            )
        if proxy is not None:
            if not ENV_NAME.match(proxy.upstream_key_env):
                self.add(("proxy", "upstream_key_env"), "must be an environment variable name")
            upstream = self.expand(("proxy", "upstream"), proxy.upstream)
            parsed = urlsplit(upstream)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                message = "must be an http:// or https:// URL (the proxy's only upstream)"
                self.add(("proxy", "upstream"), message + got(upstream))
            proxy = proxy.model_copy(update={"upstream": upstream})
        if self.problems or swarm is None or proxy is None or pricing is None or metrics is None:
            in_file = sorted(self.problems, key=lambda p: (p.line is None, p.line or 0))
            raise ConfigError(in_file)
        return SwarmConfig(
            swarm=swarm,
            proxy=proxy,
            agents=agents,
            pricing=pricing,
            metrics=metrics,
            notify=notify,
            source=self.source,
        )

    # -- operations out

    def notify(self, entries: Any) -> list[NotifySpec]:
        """``[[notify]]``: each entry valid, and with what its channel needs."""
        if not isinstance(entries, list):
            self.add(("notify",), "must be an array of tables ([[notify]])" + got(entries))
            return []
        specs: list[NotifySpec] = []
        for index, entry in enumerate(entries):
            here: KeyPath = ("notify", index)
            spec = self.validate(NotifySpec, entry, under(here))
            if spec is None:
                continue
            if spec.channel == "webhook":
                url = self.expand(here + ("url",), spec.url)
                parsed = urlsplit(url)
                if parsed.scheme not in ("http", "https") or not parsed.hostname:
                    message = 'channel = "webhook" needs an http:// or https:// url'
                    self.add(here + ("url",), message + got(url))
                spec = spec.model_copy(update={"url": url})
            elif spec.channel == "command" and (not spec.command or not spec.command[0].strip()):
                self.add(here + ("command",), 'channel = "command" needs a command (an argv array)')
            fits = {"webhook": ("json", "slack"), "terminal": ("osc9", "osc777"), "command": ()}
            if spec.format is not None and spec.format not in fits[spec.channel]:
                allowed = " or ".join(repr(f) for f in fits[spec.channel]) or "no format"
                message = f'channel = "{spec.channel}" takes {allowed}{got(spec.format)}'
                self.add(here + ("format",), message)
            specs.append(spec)
        return specs

    # -- pricing

    def pricing(self, table: Mapping[str, Any]) -> dict[str, Pricing] | None:
        prices = dict(DEFAULT_PRICING)
        ok = True
        for model, entry in table.items():
            if not isinstance(entry, dict):
                self.add(("pricing", model), "must be a table" + got(entry))
                ok = False
                continue
            merged: dict[str, Any] = {}
            if model in DEFAULT_PRICING:
                merged.update(DEFAULT_PRICING[model].model_dump())
            merged.update(entry)
            inp = entry.get("input_per_mtok")
            # derive only from a sane price: validation names the range of any other
            if isinstance(inp, int | float) and not isinstance(inp, bool) and 0 <= inp < 1e300:
                if "cache_read_per_mtok" not in entry:
                    merged["cache_read_per_mtok"] = inp / 10
                if "cache_write_per_mtok" not in entry:
                    merged["cache_write_per_mtok"] = inp * 1.25
                if "cache_write_1h_per_mtok" not in entry:
                    merged["cache_write_1h_per_mtok"] = inp * 2
            price = self.validate(Pricing, merged, under(("pricing", model)))
            if price is None:
                ok = False
            else:
                prices[model] = price
        return prices if ok else None
