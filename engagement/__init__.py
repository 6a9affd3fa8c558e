"""Engagement signals from what happens in a class: speaking, camera, attention, client signals.

Knows nothing of WebRTC: it takes audio levels, PCM, frames and client messages.
"""
