"""The operations dashboard's read side: live engagement, flags and the index that feeds them.

Everything is kept in Redis from the event streams, so any node's dashboard shows every session.
"""
