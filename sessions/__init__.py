"""Sessions: the scheduled classes, their rosters and settings, kept in Redis.

Below the server and the classroom so that every worker can read a session without importing
either."""

from .session import Guardian, RosterEntry, Session, SessionInvalid, SessionSettings, parse_new_session
from .store import SessionStore

__all__ = ["Guardian", "RosterEntry", "Session", "SessionInvalid", "SessionSettings", "SessionStore",
           "parse_new_session"]
