"""Notifications: an operator who is not looking is told when the swarm needs them.

``notices`` decides what is worth telling (and how often: one per
``min_interval_seconds`` per kind and agent), ``channels`` delivers one
notice (webhook, command, terminal), ``notifier`` runs it all off the
supervisor's path: it reads the bus through a bounded subscription, each
``[[notify]]`` entry has its own queue and worker, and every delivery and
every failure is an audit event.
"""

from controlroom.ops.notify.notifier import Notifier, TerminalSink

__all__ = ["Notifier", "TerminalSink"]
