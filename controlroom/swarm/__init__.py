"""The swarm: the supervisor, each agent's runner, the pipeline and its gates, the event bus.

This is where the layers below meet: adapters turn output into events,
policy decides, process acts, the store records (through the bus, before
anything is reported done). One asyncio loop runs it all.
May import: ``models``, ``text``, ``config``, ``policy``, ``process``, ``adapters``, ``store``.
"""
