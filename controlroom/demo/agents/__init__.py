"""The demo's agents: small scripts that speak the native protocol (see ``_kit.py``).

They are run as programs (``python <file> --speed X TASK``), never imported
by controlroom; this file only makes them package data with a module name.
"""

__all__: list[str] = []
