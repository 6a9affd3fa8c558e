"""`setRemoteDescription` with an SDP the SFU has parsed already.

Written against aiortc 1.16.0. Replaces the classmethod `aiortc.sdp.SessionDescription.parse`
with one that hands over, once, the parse the SFU made to check the SDP
(media/sdp.py), and otherwise calls aiortc's own. It relies on
`aiortc.RTCPeerConnection.setRemoteDescription` parsing its description first thing, before
its first await, so that the handed-over parse cannot reach another connection's call. aiortc's
parser takes ~6 ms for a subscriber answer with 60 m-lines (one per student joining or leaving,
for everyone in the class).
"""

from __future__ import annotations

from typing import Callable, Optional

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from ._patch import replace

Parse = Callable[[type[SessionDescription], str], SessionDescription]

_parsed_handover: Optional[tuple[str, SessionDescription]] = None
# aiortc's parser, unbound from its classmethod (tests count its calls through it).
AIORTC_PARSE: Parse = SessionDescription.__dict__["parse"].__func__


async def set_remote_description(pc: RTCPeerConnection, sdp: str, sdp_type: str,
                                 parsed: SessionDescription) -> None:
    """`pc.setRemoteDescription` without parsing `sdp` again: `parsed` is its parse."""
    global _parsed_handover
    _parsed_handover = (sdp, parsed)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
    finally:
        _parsed_handover = None


def _parse_once(cls: type[SessionDescription], sdp: str) -> SessionDescription:
    global _parsed_handover
    if _parsed_handover is not None and _parsed_handover[0] is sdp:
        parsed, _parsed_handover = _parsed_handover[1], None
        return parsed
    return AIORTC_PARSE(cls, sdp)


replace(SessionDescription, "parse", classmethod(_parse_once))
