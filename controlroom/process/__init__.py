"""The OS side of an agent: spawning, its process tree, the kill switch, workspaces, orphans.

Everything that touches ``/proc``, signals, ``prctl`` and git worktrees lives
here, behind small functions the swarm calls; nothing here knows about
budgets, gates or the event bus.
May import: ``controlroom.models`` (and the errors), psutil, the standard library.
"""
