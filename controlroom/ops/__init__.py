"""Operations out: what leaves the control room besides the screen and the audit file.

An operator does not watch the screen all night. ``metrics`` serves the
swarm's live state to Prometheus (read at scrape time, no work per event);
``notify`` tells someone (a webhook, a command, the dashboard's terminal)
when a gate waits, a budget stops an agent, a breaker opens…, off the
supervisor's path, so a dead endpoint never slows an agent, a kill or a gate.

Layer: above ``swarm`` (it reads the supervisor's state and its bus), below
``control`` (the ``SwarmHost`` starts and stops it). May import ``models``,
``text``, ``policy``, ``store``, ``swarm``, prometheus_client and aiohttp;
never Textual (the dashboard's terminal channel is a callback the TUI gives).
"""
