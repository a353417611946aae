"""Policy: token meters, the budget governor and the circuit breaker.

Pure classes fed with events and a clock; they decide (stop this agent, open
its breaker) and never act: acting is the swarm's. Nothing here touches a
process, a file or the event loop, so every rule is tested with plain values.
May import: ``controlroom.models`` only.
"""
