"""controlroom.tui"""
