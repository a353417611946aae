"""The main screen's widgets, one per module."""

from controlroom.tui.widgets.agent_table import AgentTable
from controlroom.tui.widgets.detail_pane import DetailPane
from controlroom.tui.widgets.gate_queue import GateQueue
from controlroom.tui.widgets.handoff_timeline import HandoffTimeline
from controlroom.tui.widgets.header import SwarmHeader

__all__ = ["AgentTable", "DetailPane", "GateQueue", "HandoffTimeline", "SwarmHeader"]
