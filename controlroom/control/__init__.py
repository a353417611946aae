"""The control layer: the one way in to a running swarm, for the operator and for agents.

The control API (``api``) over the swarm, every operation with its typed
arguments and result (``calls``: the one registry), its line protocol, the unix-socket
server and its clients (blocking for the CLI and the hook, asyncio for an
attached dashboard), the dashboard's ``ControlPort``, and the host that opens
a run (store, supervisor, socket) for ``run --headless`` and the dashboard.
May import: everything below it (``swarm`` and what ``swarm`` may import); never ``tui`` or ``cli``.
``tui``, ``cli`` and ``demo`` import ``swarm`` only through here (a contract in pyproject).
"""
