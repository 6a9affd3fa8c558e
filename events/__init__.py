"""The event bus: versioned events on Redis Streams, with an outbox so nothing is lost.

Everything above it (server, media observers, engagement, transcription) publishes through
`EventBus`; everything downstream reads the streams (see docs/events.md). Each type's `data`
is a typed payload in events/types/: `Event.of(payload, ...)` builds an event from one,
`parse_event(envelope)` gives one back.
"""

from .event import Event, EventType, parse_event

__all__ = ["Event", "EventType", "parse_event"]
