"""The OS side of an agent: spawning, its process tree, the kill switch, workspaces, orphans.

Everything that touches ``/proc``, signals, ``prctl``, git and the file
system's change notifications lives here, behind small functions the swarm
calls: worktrees (``workspace``), git read-only (``gitstate``) and writing
objects but never a working tree (``gitmerge``), the quick look at moved
files (``changes``), file watching (``watcher``). Nothing here knows about
budgets, gates or the event bus.
May import: ``controlroom.models`` (and the errors), psutil, watchfiles, the standard library.
"""
