"""Policy: token meters, the budget governor, the circuit breaker and the collision radar.

Pure classes fed with events and a clock; they decide (stop this agent, open
its breaker, these two agents collide, this handoff claims a file it never
touched) and never act: acting is the swarm's. Nothing here touches a
process, a file or the event loop, so every rule is tested with plain values.
May import: ``controlroom.models`` only.
"""
