"""Recordings after the fact: the per-session manifest, repair after a crash, export.

The media layer writes the files (media/recorder.py); nothing here knows WebRTC.
"""
