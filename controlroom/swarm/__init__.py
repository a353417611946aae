"""The swarm: the supervisor, each agent's runner, the pipeline and its gates, the event bus.

Beside them, the live radar (``radar``, ``workspaces``, ``scope``: what each
agent changed, where agents collide, writes nobody may make) and the merges
of approved work (``integration``).
Each agent is held by the run's confinement (``confinement``: its cgroup or
tree, its kernel limits, its sandbox from ``sandboxing``).

This is where the layers below meet: adapters turn output into events,
policy decides, process acts, the store records (through the bus, before
anything is reported done). One asyncio loop runs it all.
May import: ``models``, ``text``, ``config``, ``policy``, ``process``, ``adapters``, ``store``.
"""
