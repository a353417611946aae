"""The demo's own agent: ``runaway.py``, which speaks the Messages API itself.

It is run as a program (``python runaway.py TASK``), never imported by
controlroom; this file only makes it package data with a module name. The
other demo agents are the built-in worker (``controlroom agent``).
"""

__all__: list[str] = []
