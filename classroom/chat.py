"""Chat in a live class: to everyone, or privately to or from a moderator."""

from __future__ import annotations

import time
from typing import Optional

from events.event import iso, new_event_id
from events.types import ChatMessage
from media import MediaError, Participant, PermissionDenied
from media.exceptions import NotFound

from .context import ClassContext

MAX_CHAT_CHARS = 2000


class Chat:
    def __init__(self, context: ClassContext) -> None:
        self._context = context

    def send(self, sender: Participant, text: str, to: Optional[str]) -> None:
        text = text.strip()
        if not text or len(text) > MAX_CHAT_CHARS:
            raise MediaError(f"a chat message must be 1-{MAX_CHAT_CHARS} characters")
        room = self._context.require_room()
        message_id = "msg_" + new_event_id()[4:]
        message = {"type": "chat", "message_id": message_id,
                   "from": sender.identity, "name": sender.name, "text": text, "to": to,
                   "ts": iso(time.time())}
        if to is None:
            room.broadcast(message)
        else:
            recipient = room.participants.get(to)
            if recipient is None:
                raise NotFound(f"no participant {to!r} in this room")
            if not (sender.permissions.moderate or recipient.permissions.moderate):
                raise PermissionDenied("private messages go to or come from a moderator")
            recipient.signal(message)
            sender.signal(message)
        self._context.activity.activity(sender.identity).messages += 1
        self._context.signal(sender.identity, ChatMessage(message_id=message_id, text=text, to=to))
