"""The live class: what happens in a session's room while it runs.

`LiveSessions` owns one `LiveSession` per running class; each turns the room's media and
data-channel traffic into attendance, engagement, transcript and recording state, and emits the
events of the catalogue. Nothing here speaks HTTP or WebRTC: `server/` does that, `media/` forwards.
"""
