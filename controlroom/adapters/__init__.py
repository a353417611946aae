"""controlroom.adapters"""
