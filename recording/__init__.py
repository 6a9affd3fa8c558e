"""Recordings: each track written as it arrives (recorder.py, never decoded), the per-session
manifest, repair after a crash, object storage, export. Nothing here knows WebRTC signaling.
"""
