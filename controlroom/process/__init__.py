"""The OS side of an agent: spawning, containing, killing, sandboxing, workspaces, orphans.

Everything that touches ``/proc``, signals, ``prctl``, cgroups, bubblewrap,
git and the file system's change notifications lives here, behind small
functions the swarm calls: ``spawn`` starts an agent inside its containment
(``contain``: its cgroup, ``cgroup``/``runcgroups``/``cgroupfs``, or its tree
and environment marker, ``tree``/``kill``/``marker``), decided per run by
``runcontain``; ``sandbox`` builds its bubblewrap command, ``bridge`` is the
sandbox's only road out and ``egress`` the allowlisting proxy behind it;
``orphans`` finds what crashed runs left; worktrees (``workspace``), git
read-only (``gitstate``) and writing objects but never a working tree
(``gitmerge``), the quick look at moved files (``changes``), file watching
(``watcher``). Nothing here knows about budgets, gates or the event bus (the
egress proxy hands its events to a callback).
May import: ``controlroom.models`` (and the errors, ``text``), psutil, watchfiles, the standard
library.
"""
