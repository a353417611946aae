"""Verbs that act on a running swarm through its control socket.

``status`` and ``gates`` look; ``approve``, ``reject``, ``kill``,
``stop-all``, ``pause``, ``resume``, ``restart`` and ``reset-breaker`` act.
Each finds the socket by ``--socket``, else ``[swarm] run_dir`` of
``--config`` (or ./config.toml), else ./.controlroom/control.sock, and says so
in one line when no control room is running there.

``--format jsonl`` shapes, for scripts:

* ``status``: one object per agent: ``agent``, ``state``, ``reason``, ``pid``,
  ``attempt``, ``breaker_open``, the token counts (``input_tokens``,
  ``output_tokens``, cache counts, ``total_tokens``), ``cost_usd``,
  ``turns``, ``elapsed_seconds``, ``tightest_limit``, ``budget``,
  ``limits``, … plus ``swarm`` and ``run`` on every line (so lines from
  several swarms can be mixed and still told apart).
* ``gates``: one object per gate: ``id``, ``agent``, ``kind`` (``handoff``,
  ``tool`` or ``agent``), ``state``, ``title``, ``detail``, ``stage``,
  ``created`` (ISO 8601 UTC), ``age_seconds``, ``timeout_seconds``,
  ``handoff`` (the three fields, or null) and ``tool`` (``name``, ``input``,
  or null); a decided gate (``--all``) also has ``decision``. The radar's
  keys: ``changed_files`` (``path``, ``status``, ``added``, ``removed``),
  ``file_count``, ``conflicts`` (``other``, ``files``), ``discrepancies``
  (``kind``, ``path``, ``text``), ``verdict`` and ``merge_order`` (this
  handoff's place in the suggested merge order, 1 first, or null).
* ``diff``: one object: ``agent``, ``tracked``, ``why``, ``branch``,
  ``base``, ``files``, ``added``, ``removed``, ``verdict``,
  ``discrepancies``, ``diff`` (the unified diff) and ``truncated``.

Exit codes: 0 done; 1 refused or failed (unknown agent or gate, no swarm
running, a kill that left survivors, a diff of an agent the radar does not
track).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controlroom.cli.arguments import socket_options
from controlroom.cli.render import add_format_argument, iso_utc, print_jsonl, print_table
from controlroom.inert import inert_line

if TYPE_CHECKING:
    from controlroom.control.client import ControlClient
    from controlroom.models.views import AgentView, GateView, SwarmView

__all__ = ["add_parser", "parse_budget"]

Verb = Callable[["ControlClient", argparse.Namespace], int]
MakeVerb = Callable[[str, str, Verb], argparse.ArgumentParser]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    where = socket_options()

    def verb(name: str, help_text: str, body: Verb) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, parents=[where], help=help_text, description=help_text)
        parser.set_defaults(handler=_connected(body))
        return parser

    _reading_verbs(verb)
    _gate_verbs(verb)
    _agent_verbs(verb)


def _reading_verbs(verb: MakeVerb) -> None:
    """status, gates, diff: what the swarm is doing, asked of it without changing it."""
    p = verb("status", "agents of the running swarm: state, tokens, cost, pid", _status)
    add_format_argument(p, ("table", "jsonl"))

    p = verb("gates", "what waits for the operator (handoffs, tool calls, questions)", _gates)
    p.add_argument("--all", action="store_true", help="decided gates too, not only pending")
    add_format_argument(p, ("table", "jsonl"))

    p = verb("diff", "what an agent really changed: its files and diff against its base", _diff)
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--stat", action="store_true", help="the changed files only, not the diff")
    add_format_argument(p, ("text", "jsonl"), default="text")


def _gate_verbs(verb: MakeVerb) -> None:
    """approve, reject: the operator's decisions on gates."""
    p = verb("approve", "approve a pending gate", _approve)
    p.add_argument("gate", metavar="GATE", help="the gate id (see 'controlroom gates')")
    p.add_argument("-m", "--message", metavar="REASON", default="", help="why (recorded)")
    p.add_argument(
        "--no-merge",
        action="store_true",
        help='approve without merging (an on_approve = "merge" agent whose merge would conflict)',
    )

    p = verb("reject", "reject a pending gate (a reason is required)", _reject)
    p.add_argument("gate", metavar="GATE", help="the gate id (see 'controlroom gates')")
    p.add_argument(
        "-m", "--message", metavar="REASON", required=True, help="why (recorded, told the agent)"
    )


def _agent_verbs(verb: MakeVerb) -> None:
    """kill, stop-all, pause, resume, restart, reset-breaker: acting on agents."""
    p = verb("kill", "kill one agent's whole process tree (SIGTERM, then SIGKILL)", _kill)
    p.add_argument("agent", metavar="AGENT")
    p.add_argument(
        "--grace", type=float, metavar="SECONDS", help="before SIGKILL (default: its budget's)"
    )

    p = verb("stop-all", "kill every agent at once (the emergency stop)", _stop_all)
    p.add_argument(
        "--grace", type=float, metavar="SECONDS", help="before SIGKILL (default: each budget's)"
    )

    p = verb("pause", "freeze an agent's process tree (SIGSTOP)", _pause)
    p.add_argument("agent", metavar="AGENT")

    p = verb("resume", "continue a paused agent (SIGCONT)", _resume)
    p.add_argument("agent", metavar="AGENT")

    p = verb("restart", "restart an agent (a budget-stopped one needs --new-budget)", _restart)
    p.add_argument("agent", metavar="AGENT")
    p.add_argument(
        "--new-budget",
        type=parse_budget,
        metavar="KEY=VALUE[,...]",
        help="e.g. max_tokens=400000,max_cost_usd=8 (keys of [defaults.budget])",
    )

    p = verb("reset-breaker", "close an agent's open circuit breaker", _reset_breaker)
    p.add_argument("agent", metavar="AGENT")


def parse_budget(text: str) -> dict[str, float | int]:
    """``max_tokens=400000,max_cost_usd=8`` → a budget dict; unknown keys name the known ones."""
    from controlroom.models import Budget

    known = {name: field.annotation for name, field in Budget.model_fields.items()}
    out: dict[str, float | int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or key not in known:
            raise argparse.ArgumentTypeError(
                f"expected KEY=VALUE with KEY one of {', '.join(known)}; got {item!r}"
            )
        try:
            number = float(value)
            out[key] = int(number) if "int" in str(known[key]) and number.is_integer() else number
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key}: expected a number, got {value!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("give at least one KEY=VALUE")
    return out


def _connected(body: Verb) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from controlroom.control.client import ControlClient, find_socket

        with ControlClient(find_socket(args.socket, args.config)) as client:
            return body(client, args)

    return handler


# --------------------------------------------------------------------------- looking


def _status(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import audit_banner, counted, duration, money

    snap = client.call(calls.SNAPSHOT())
    failing = 0 if snap.audit.ok else 3  # the audit log cannot be written
    if args.format == "jsonl":
        print_jsonl([_agent_record(snap, agent) for agent in snap.agents])
        return failing
    if failing:
        print(audit_banner(snap.audit.model_dump()))
    totals = snap.totals
    gates, cap = totals.pending_gates, totals.max_cost_usd
    print(
        f"swarm {snap.swarm} · run {snap.run} · {totals.agents} agents, "
        f"{totals.running} running · tokens {totals.input_tokens:,} in / "
        f"{totals.output_tokens:,} out · {money(totals.cost_usd)}"
        + (f" of {money(cap)}" if cap else "")
        + f" · {counted(gates, 'pending gate')}"
    )
    rows = [
        {
            **_agent_record(snap, agent),
            "cost_usd": f"{agent.meter.cost_usd if agent.meter else 0.0:.4f}",
            "elapsed": duration(agent.meter.elapsed_seconds if agent.meter else 0.0),
        }
        for agent in sorted(snap.agents, key=_by_attention)  # who needs the operator first
    ]
    columns = ["agent", "state", "input_tokens", "output_tokens", "cost_usd", "elapsed", "pid"]
    headers = {"input_tokens": "IN", "output_tokens": "OUT", "cost_usd": "COST $"}
    print_table(rows, [*columns, "reason"], headers=headers)
    return failing


def _by_attention(agent: AgentView) -> tuple[int, float, str]:
    """The dashboard's default order (policy.attention), for the status table."""
    from controlroom.policy.attention import attention_key

    limits = agent.meter.limits if agent.meter is not None else []
    return attention_key(
        agent.name,
        agent.state,
        breaker_open=agent.breaker_open,
        budget_fraction=max((lim.fraction for lim in limits), default=None),
    )


def _agent_record(snap: SwarmView, agent: AgentView) -> dict[str, Any]:
    """One ``status --format jsonl`` line: the agent's view, its meter's figures flattened."""
    data = agent.model_dump(mode="json")
    meter = {k: v for k, v in (data.pop("meter") or {}).items() if k not in ("agent", "at")}
    record: dict[str, Any] = {
        "swarm": snap.swarm,
        "run": snap.run,
        "audit": snap.audit.model_dump(mode="json"),
        "agent": data.pop("name"),
    }
    record.update(data)
    record.update(meter)
    return record


def _gates(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import duration

    gates = client.call(calls.GATES(every=args.all))
    if args.format == "jsonl":
        print_jsonl([_gate_record(g) for g in gates])
        return 0
    if not gates:
        print("no pending gates" if not args.all else "no gates", file=sys.stderr)
        return 0
    rows = [
        {**_gate_record(g), "age": duration(g.age_seconds), "what": _gate_text(g)} for g in gates
    ]
    columns = ["id", "agent", "kind", *(["state"] if args.all else []), "age", "what"]
    print_table(rows, columns)
    return 0


def _gate_record(gate: GateView) -> dict[str, Any]:
    """One ``gates --format jsonl`` line: the gate's view, its times in ISO 8601 UTC."""
    record = gate.model_dump(mode="json")
    record["created"] = iso_utc(gate.created)
    if gate.decision is not None:
        record["decision"]["at"] = iso_utc(gate.decision.at)
    return record


def _gate_text(gate: GateView) -> str:
    if gate.tool is not None:
        return f"{gate.title}: {gate.detail}".strip(": ")
    if gate.handoff is not None:
        return f"{gate.title}: {gate.handoff.changed}"[:200]
    return gate.title or gate.detail


def _diff(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.inert import inert
    from controlroom.text import changes_summary, file_line

    found = client.call(calls.DIFF(args.agent))
    if args.format == "jsonl":
        print_jsonl([found.model_dump(mode="json")])
        return 0 if found.tracked else 1
    if not found.tracked:
        print(f"{inert_line(args.agent)}: not tracked: {inert_line(found.why)}", file=sys.stderr)
        return 1
    summary = changes_summary(len(found.files), found.added, found.removed)
    branch = inert_line(found.branch or "-")
    print(f"{inert_line(args.agent)} · branch {branch} · base {found.base[:12]} · {summary}")
    print(f"radar: {inert_line(found.verdict)}")
    for line in (file_line(f) for f in found.files):
        print(f"  {line}")
    if not args.stat and found.diff:
        print()
        sys.stdout.write(inert(found.diff))
        if found.truncated:
            print("\n… (cut: the diff is longer than one answer carries)")
    return 0


# --------------------------------------------------------------------------- acting
# Each verb prints the sentence the dashboard's toast shows for the same result
# (``text.operator``), so an action reads the same wherever it was taken.


def _approve(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    gate = client.call(calls.APPROVE(args.gate, args.message, merge=not args.no_merge))
    print(words.approved(gate))
    return 0


def _reject(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    print(words.rejected(client.call(calls.REJECT(args.gate, args.message))))
    return 0


def _kill(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    rep = client.call(calls.KILL(args.agent, grace=args.grace), timeout=_wait(args))
    print(words.killed(rep))
    return 1 if rep.survivors else 0


def _stop_all(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    rep = client.call(calls.STOP_ALL(grace=args.grace), timeout=_wait(args))
    print(words.stop_all_summary(rep))
    for agent in rep.agents:
        if agent.survivors:
            print(
                f"  {inert_line(agent.agent)}: {words.survivors(agent.survivors)}", file=sys.stderr
            )
    return 1 if rep.survivors else 0


def _pause(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    print(words.paused(client.call(calls.PAUSE(args.agent))))
    return 0


def _resume(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    print(words.resumed(client.call(calls.RESUME(args.agent))))
    return 0


def _restart(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    rep = client.call(calls.RESTART(args.agent, args.new_budget), timeout=_wait(args))
    print(words.restarted(rep))
    return 0


def _reset_breaker(client: ControlClient, args: argparse.Namespace) -> int:
    from controlroom.control import calls
    from controlroom.text import operator as words

    rep = client.call(calls.RESET_BREAKER(args.agent))
    print(words.breaker_reset(rep, restart=f"'controlroom restart {inert_line(rep.agent)}'"))
    return 0


def _wait(args: argparse.Namespace) -> float:
    """A kill waits out the grace period and a tree walk: allow for it beyond the default."""
    grace = getattr(args, "grace", None)
    return 60.0 + (grace or 0.0)
