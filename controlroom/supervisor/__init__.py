"""controlroom.supervisor"""
