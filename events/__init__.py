"""The event bus: versioned events on Redis Streams, with an outbox so nothing is lost.

Everything above it (server, media observers, engagement, transcription) publishes through
`EventBus`; everything downstream reads the streams (see docs/events.md).
"""

from .event import Event, EventType

__all__ = ["Event", "EventType"]
