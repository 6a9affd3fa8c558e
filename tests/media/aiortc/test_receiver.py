"""Guards media/aiortc/receiver.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

from .guard import check_attributes, check_recorded

MODULE = "receiver"


async def test_receiver_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.receiver, [
        "_enabled", "_RTCRtpReceiver__remote_bitrate_estimator", "_RTCRtpReceiver__rtcp_ssrc",
        "_RTCRtpReceiver__active_ssrc", "_RTCRtpReceiver__remote_streams",
        "_RTCRtpReceiver__nack_generator", "_RTCRtpReceiver__rtcp_started",
        "_RTCRtpReceiver__rtcp_exited", "_RTCRtpReceiver__stop_decoder", "_send_rtcp",
        "_send_rtcp_nack", "_send_rtcp_pli", "_handle_rtp_packet", "_run_rtcp", "receive",
        "transport"])
