"""Checks on SDP from clients, before aiortc sees it (aiortc accepts much that is not SDP)."""

from __future__ import annotations

import re

from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.sdp import SessionDescription

from .exceptions import NegotiationError

MAX_SDP_BYTES = 192 * 1024
# What aiortc raises on SDP it cannot read (its parser also asserts), and, applying a description,
# on SDP it read but cannot use.
PARSE_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, AssertionError, StopIteration)
APPLY_ERRORS = (*PARSE_ERRORS, InternalError, InvalidAccessError, InvalidStateError, OperationError)
_MEDIA_LINE = re.compile(r"^m=(audio|video|application) \d+ [A-Z/]+( \S+)+$")


def check_session_description(sdp: str) -> SessionDescription:
    """Parse SDP that must describe media; raise NegotiationError saying what is wrong."""
    if len(sdp) > MAX_SDP_BYTES:
        raise NegotiationError(f"the SDP is larger than {MAX_SDP_BYTES} bytes")
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise NegotiationError("the SDP must start with v=0")
    for prefix in ("o=", "s=", "t="):
        if not any(line.startswith(prefix) for line in lines):
            raise NegotiationError(f"the SDP has no {prefix[0]}= line")
    media_lines = [line for line in lines if line.startswith("m=")]
    if not media_lines:
        raise NegotiationError("the SDP has no media section")
    for line in media_lines:
        if not _MEDIA_LINE.match(line):
            raise NegotiationError(f"malformed media line: {line[:80]}")
    try:
        description = SessionDescription.parse(sdp)
    except PARSE_ERRORS as exc:
        raise NegotiationError(f"the SDP could not be parsed: {exc or 'a line is malformed'}") from exc
    for media in description.media:
        if media.port == 0:
            continue
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise NegotiationError(f"media section {media.rtp.muxId or media.kind} has no ICE credentials")
        if media.dtls is None or not media.dtls.fingerprints:
            raise NegotiationError(f"media section {media.rtp.muxId or media.kind} has no DTLS fingerprint")
        if media.direction is None:
            # aiortc keeps a missing direction as None and then fails on every later offer too.
            raise NegotiationError(f"media section {media.rtp.muxId or media.kind} has no direction "
                                   "(a=sendrecv, sendonly, recvonly or inactive)")
    return description
