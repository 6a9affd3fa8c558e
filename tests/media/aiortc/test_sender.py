"""Guards media/aiortc/sender.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

from .guard import check_assigned, check_attributes, check_recorded

MODULE = "sender"


async def test_sender_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.sender, [
        "_ssrc", "_rtx_ssrc", "_RTCRtpSender__rtcp_started", "_RTCRtpSender__rtcp_exited",
        "_RTCRtpSender__ntp_timestamp", "_RTCRtpSender__rtp_timestamp",
        "_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count", "_RTCRtpSender__lsr",
        "_RTCRtpSender__lsr_time", "send", "_handle_rtcp_packet", "_run_rtcp", "_send_rtcp",
        "transport"])
    check_assigned(MODULE, "aiortc.rtcrtpsender.RTCRtpSender.send", ["__cname"])
