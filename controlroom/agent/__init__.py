"""controlroom.agent"""
