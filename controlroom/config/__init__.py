"""config.toml → a validated ``SwarmConfig``; every error names the file, line and key.

An operator edits this file by hand, so a mistake must point at itself:
``config.toml:23: agents[2].budget.max_tokens: must be greater than 0 (got 0)``.
tomllib reports no line numbers for values, so ``TomlKeyLines`` scans the text
once and remembers on which line each key path is written. Validation never
stops at the first problem: everything found is raised together in one
``ConfigError`` so one edit-check round fixes the whole file.

Merging: ``[defaults]`` holds defaults for any agent key; an agent's ``budget``,
``breaker`` and ``limits`` tables are merged key by key over ``[defaults.budget]``,
``[defaults.breaker]`` and ``[defaults.limits]``. ``[pricing."model"]`` is merged
key by key over the built-in ``DEFAULT_PRICING`` entry of that model; cache
prices not given are derived from the input price (a tenth to read, 1.25 times
to write for five minutes, twice for an hour), as Anthropic prices them, so a
custom model never meters cache tokens as free.

Paths (``swarm.audit_db``, ``swarm.run_dir``, ``swarm.anchor_file``, a
workspace that is a path) are resolved relative to the config file's
directory; they, and ``proxy.upstream``, may use ``~`` and ``${NAME}`` from
the environment.
"""

from __future__ import annotations

from controlroom._tomllines import KeyPath, TomlKeyLines, format_key_path
from controlroom.config.load import find_config, load_config
from controlroom.config.stages import pipeline_stages

__all__ = [
    "KeyPath",
    "TomlKeyLines",
    "find_config",
    "format_key_path",
    "load_config",
    "pipeline_stages",
]
