"""The arguments several verbs share, defined once: which config, and which control socket.

So ``check``, ``run``, ``tui`` and ``orphans`` read their config the same
way, and every verb that talks to a running swarm finds its socket alike.
"""

from __future__ import annotations

import argparse

__all__ = ["add_config_argument", "socket_options"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The optional ``CONFIG`` positional (default: ./config.toml)."""
    parser.add_argument(
        "config", nargs="?", metavar="CONFIG", help="the swarm config (default: ./config.toml)"
    )


def socket_options() -> argparse.ArgumentParser:
    """A parent parser with ``--socket`` and ``--config``: where a running swarm listens."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--socket", metavar="PATH", help="the control socket (default: from the config)"
    )
    where.add_argument(
        "--config",
        metavar="PATH",
        help="find the socket in [swarm] run_dir of this config (default: ./config.toml)",
    )
    return where
