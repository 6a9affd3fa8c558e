"""The SFU on aiortc: Room → Participant → Publication / Subscription.

Forwards encoded RTP (never transcodes); decodes audio once per publisher for the taps.
Knows nothing of HTTP.
"""

from .exceptions import JoinRefused, MediaError, NegotiationError, NotFound, PermissionDenied
from .participant import Participant
from .permissions import Permissions, Role, Source
from .publication import Publication
from .room import Admission, Room
from .room_observer import RoomObserver
from .sfu import SFU
from .subscription import Subscription

__all__ = [
    "SFU", "Admission", "Room", "RoomObserver", "Participant", "Publication", "Subscription", "Permissions", "Role",
    "Source", "MediaError", "NegotiationError", "NotFound", "PermissionDenied", "JoinRefused",
]
