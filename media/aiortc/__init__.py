"""The one place that reaches into aiortc's (and aioice's) private internals, one module per
mechanism. Each module's docstring names the aiortc version it was written against and what
of aiortc it adapts or replaces; tests/media/aiortc guards each against an aiortc that changed
under it (aiortc is pinned exactly in pyproject.toml).

aiortc receives by decoding and sends by encoding; an SFU must do neither per subscriber. These
modules let the SFU see every RTP packet a receiver gets before its jitter buffer (receiver,
dtls_receive, datagrams), and put already-encoded RTP packets on a sender's transport (sender,
sender_reports, dtls_send), while aiortc keeps doing ICE, DTLS, SRTP, RTCP receiver reports,
REMB and NACK generation; the rest make it cheaper (rate, remote_description), keep ICE
consent alive under load (consent), choose the host candidates (host_addresses) and tell what a
connection has heard (peer_connection).

Importing the package puts the process-wide replacements in place (rate, consent,
remote_description, datagrams).
"""

from . import consent, rate  # noqa: F401  (process-wide replacements, in place on import)
from .datagrams import size_receive_buffers
from .host_addresses import use_host_addresses
from .peer_connection import datagrams_heard, dtls_transports
from .receiver import request_keyframe, tap_receiver
from .remote_description import set_remote_description
from .sender import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, ForwardingSender, SendParameters

__all__ = [
    "ABS_SEND_TIME_URI", "AUDIO_LEVEL_URI", "MID_URI", "ForwardingSender", "SendParameters",
    "datagrams_heard", "dtls_transports", "request_keyframe", "set_remote_description",
    "size_receive_buffers", "tap_receiver", "use_host_addresses",
]
