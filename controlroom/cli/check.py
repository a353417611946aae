"""``controlroom check [CONFIG]``: validate a swarm config and show what it would run.

Meant to be run after every edit (and in CI): a valid config prints a short
summary and exits 0; an invalid one lists every problem, one per line with
file, line and key, and exits 1. ``--format jsonl`` prints the same as JSON
lines on stdout, for editors and scripts. It also says how agents would be
contained on this machine (a cgroup each, or the process tree, and why), by
making and removing a cgroup as a run would; ``containment = "cgroup"`` that
cannot be met fails the check.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from controlroom.cli.arguments import add_config_argument
from controlroom.text import counted, limit_label, limit_value

if TYPE_CHECKING:
    from pathlib import Path

    from controlroom.models import AgentSpec, Budget, SwarmConfig

__all__ = ["add_parser", "render_summary", "run_check"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate a swarm config and show what it would run",
        description="Validate a swarm config: print a summary and exit 0, or print every "
        "problem (file:line: key: message) and exit 1.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text for people (default), jsonl for scripts",
    )
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    from controlroom._errors import ConfigError
    from controlroom.cli.hostcheck import probe_host
    from controlroom.config import find_config, load_config, pipeline_stages

    if args.format == "text":  # problems reach stderr through the CLI's ConfigError handler
        path = find_config(args.config)
        cfg = load_config(path)
        summary = render_summary(path, cfg, pipeline_stages(cfg))
        host = probe_host(cfg)
        print(summary + "\n\n" + "\n".join(host.lines()))
        return 0 if host.ok else 1
    try:
        path = find_config(args.config)
        cfg = load_config(path)
        stages = pipeline_stages(cfg)
    except ConfigError as exc:
        for problem in exc.problems:
            record = {"ok": False, "file": problem.file, "line": problem.line}
            record |= {"key": problem.key, "message": problem.message}
            print(json.dumps(record, ensure_ascii=False))
        return 1
    host = probe_host(cfg)
    record = _summary_record(path, cfg, stages)
    record["ok"] = host.ok
    record["containment"] = host.record()
    print(json.dumps(record, ensure_ascii=False))
    return 0 if host.ok else 1


# --------------------------------------------------------------------------- rendering


def _limits(budget: Budget) -> list[str]:
    from controlroom.text import duration, money, tokens

    return [
        tokens(budget.max_tokens),
        money(budget.max_cost_usd),
        duration(budget.max_wall_seconds),
        tokens(budget.max_turns),
    ]


def _agent_row(spec: AgentSpec) -> list[str]:
    gated = ", ".join(spec.gate_tools) if spec.gate_tools else "-"
    kernel = [
        f"{limit_label(name)} {limit_value(name, value)}"
        for name, value in spec.limits.model_dump().items()
        if value is not None
    ]
    return [
        spec.name,
        spec.format,
        spec.workspace,
        spec.gate,
        *_limits(spec.budget),
        gated,
        ", ".join(kernel) or "-",
    ]


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_summary(path: Path, cfg: SwarmConfig, stages: list[list[str]]) -> str:
    """What ``check`` prints for a valid config: the swarm, its agents, their order."""
    swarm = cfg.swarm
    key_env = cfg.proxy.upstream_key_env
    key_set = bool(os.environ.get(key_env))
    mode = cfg.proxy.credentials or ("swap" if key_set else "passthrough")
    if mode == "swap":
        credentials = f"swap: agents get their own keys, ${key_env} pays"
        credentials += "" if key_set else f" (${key_env} is NOT set: the run will not start)"
    else:
        credentials = "passthrough: agents use their own credentials (cost is an estimate)"
    from controlroom.text import money

    cap = swarm.max_cost_usd
    cap_text = "none" if cap is None else f"{money(cap)} for the whole swarm"
    lines = [
        f"{path}: ok",
        *_table(
            [
                ["swarm", swarm.name],
                ["audit db", swarm.audit_db],
                ["run dir", swarm.run_dir],
                ["cost cap", cap_text],
                ["upstream", f"{cfg.proxy.upstream} (through the metering proxy)"],
                ["credentials", credentials],
            ],
            indent="",
        ),
        "",
    ]
    lines += _ops_lines(cfg)
    if not cfg.agents:
        lines.append("agents: none defined (add [[agents]] tables)")
        return "\n".join(lines)
    header = [
        "name",
        "format",
        "workspace",
        "gate",
        "tokens",
        "cost",
        "wall",
        "turns",
        "gated tools",
        "limits",
    ]
    lines.append(f"agents ({len(cfg.agents)})")
    lines += _table([header, *(_agent_row(spec) for spec in cfg.agents)])
    lines += ["", f"pipeline ({counted(len(stages), 'stage')})"]
    lines += [f"  {number}. {', '.join(stage)}" for number, stage in enumerate(stages, 1)]
    return "\n".join(lines)


def _ops_lines(cfg: SwarmConfig) -> list[str]:
    """Where metrics are served and who is told what (only what the config sets)."""
    from controlroom.text import duration

    lines: list[str] = []
    if cfg.metrics.listen:
        lines += [f"metrics      http://{cfg.metrics.listen}/metrics", ""]
    if cfg.notify:
        rows = [["name", "channel", "to", "events", "quiet"]]
        for index, spec in enumerate(cfg.notify):
            events = [
                f"gate_waiting after {duration(spec.after_seconds)}" if e == "gate_waiting" else e
                for e in spec.events
            ]
            to = spec.target if spec.channel != "terminal" else spec.format or "osc9"
            quiet = duration(spec.min_interval_seconds)
            name = spec.name or f"notify[{index}]"
            rows.append([name, spec.channel, to, ", ".join(events), quiet])
        lines += [f"notify ({len(cfg.notify)})", *_table(rows), ""]
    return lines


def _summary_record(path: Path, cfg: SwarmConfig, stages: list[list[str]]) -> dict[str, Any]:
    return {
        "ok": True,
        "file": str(path),
        "swarm": cfg.swarm.name,
        "audit_db": cfg.swarm.audit_db,
        "run_dir": cfg.swarm.run_dir,
        "max_cost_usd": cfg.swarm.max_cost_usd,
        "agents": [
            {
                "name": spec.name,
                "format": spec.format,
                "workspace": spec.workspace,
                "gate": spec.gate,
                "gate_tools": spec.gate_tools,
                "after": spec.after,
                "budget": spec.budget.model_dump(),
                "limits": spec.limits.model_dump(),
                "sandbox": spec.sandbox,
                "allow_hosts": spec.allow_hosts,
                "binds": spec.binds,
                "tools": spec.tools,
            }
            for spec in cfg.agents
        ],
        "stages": stages,
        "metrics_listen": cfg.metrics.listen,
        "notify": [
            {
                "name": spec.name,
                "channel": spec.channel,
                "target": spec.target,
                "events": spec.events,
                "after_seconds": spec.after_seconds,
                "min_interval_seconds": spec.min_interval_seconds,
            }
            for spec in cfg.notify
        ],
    }
