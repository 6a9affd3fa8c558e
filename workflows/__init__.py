"""Downstream of the event bus: rules that turn events into notices, flags and student records.

`aula worker` runs them (workflows/worker.py); nothing here knows WebRTC or the SFU.
"""
