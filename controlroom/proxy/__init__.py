"""controlroom.proxy"""
