"""controlroom.sim"""
