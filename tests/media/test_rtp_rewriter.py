import pytest

from media.rtp_rewriter import (
    ExtensionBlock,
    Outlet,
    one_byte_extension_block,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

SEQUENCE_MODULO = 1 << 16


class Rewriter:
    """An outlet's rewriter on a clock of the test's own."""

    def __init__(self) -> None:
        self.outlet = Outlet(ssrc=1234, first_sequence=1000, first_timestamp=50000)
        self.outlet.configure(96, 90000, b"", 0, 0, b"")
        self.now = 100.0

    def rewrite(self, source_ssrc: int, sequence: int, timestamp: int) -> tuple[int, int]:
        return self.outlet.rewrite(source_ssrc, sequence, timestamp, self.now)


def test_a_stream_keeps_its_spacing_under_the_subscribers_ssrc_and_origin():
    rewriter = Rewriter()
    out = [rewriter.rewrite(777, seq, ts) for seq, ts in ((40, 3000), (41, 3000), (42, 6000))]
    assert out == [(1000, 50000), (1001, 50000), (1002, 53000)]
    assert rewriter.outlet.ssrc == 1234


def test_sequence_numbers_wrap_around():
    rewriter = Rewriter()
    rewriter.rewrite(1, 5, 0)
    out = [rewriter.rewrite(1, (5 + step) % SEQUENCE_MODULO, 0)[0] for step in range(1, SEQUENCE_MODULO)]
    assert out[-1] == (1000 + SEQUENCE_MODULO - 1) % SEQUENCE_MODULO
    assert rewriter.rewrite(1, 5, 0)[0] == 1000


def test_timestamps_wrap_around_on_either_side():
    rewriter = Rewriter()
    assert rewriter.rewrite(1, 5, (1 << 32) - 1000)[1] == 50000
    assert rewriter.rewrite(1, 6, 2000)[1] == 53000  # the publisher's clock wrapped
    late = Rewriter()
    late.outlet = Outlet(ssrc=1234, first_sequence=0, first_timestamp=(1 << 32) - 1000)
    late.outlet.configure(96, 90000, b"", 0, 0, b"")
    assert late.rewrite(1, 5, 7000)[1] == (1 << 32) - 1000
    assert late.rewrite(1, 6, 10000)[1] == 2000  # ours wrapped


def test_skipped_packets_leave_no_gap_for_the_subscriber_to_nack():
    rewriter = Rewriter()
    rewriter.rewrite(1, 10, 0)
    rewriter.outlet.skip()  # source packets 11..19 were not forwarded (muted)
    assert rewriter.rewrite(1, 20, 900)[0] == 1001
    assert rewriter.rewrite(1, 21, 900)[0] == 1002


def test_a_reordered_packet_keeps_its_place():
    rewriter = Rewriter()
    rewriter.rewrite(1, 10, 0)
    rewriter.rewrite(1, 12, 0)
    assert rewriter.rewrite(1, 11, 0)[0] == 1001
    assert rewriter.rewrite(1, 13, 0)[0] == 1003


def test_a_new_publisher_ssrc_continues_the_stream_in_sequence_and_time():
    rewriter = Rewriter()
    rewriter.rewrite(1, 10, 1000)
    rewriter.now += 0.5
    sequence, timestamp = rewriter.rewrite(2, 60000, 9_999_999)
    assert sequence == 1001
    assert timestamp == 50000 + 45000  # half a second at 90 kHz after the last one


def test_nacked_sequence_numbers_map_back_to_the_source_packets():
    rewriter = Rewriter()
    rewriter.rewrite(1, 10, 0)
    rewriter.rewrite(1, 11, 0)
    assert rewriter.outlet.source_sequence(1001) == 11
    assert rewriter.outlet.source_sequence(1500) is None


def outlet_with(block: ExtensionBlock) -> Outlet:
    outlet = Outlet(ssrc=1, first_sequence=0, first_timestamp=0)
    block.configure(outlet, 96, 90000)
    return outlet


def test_a_header_written_on_its_own_parses_back_with_the_outlets_extensions():
    outlet = outlet_with(ExtensionBlock([(1, b"3")], variable_id=3, variable_size=3))
    params = RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(
            id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")])
    extensions = HeaderExtensionsMap()
    extensions.configure(params)
    header = outlet.header(97, 0xDEADBEEF, 1, 65535, 4_000_000_000, b"\x01\x02\x03")
    packet = RtpPacket.parse(header + b"payload", extensions)
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (97, 1, 65535)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (4_000_000_000, 0xDEADBEEF, b"payload")
    assert packet.extensions.mid == "3"
    assert packet.extensions.abs_send_time == 0x010203
    # No per-packet value (or one of the wrong size): the fixed elements alone.
    for value in (None, b"\x01"):
        plain = RtpPacket.parse(outlet.header(96, 5, 0, 1, 2, value) + b"x", extensions)
        assert plain.extensions.mid == "3" and plain.extensions.abs_send_time is None


def test_no_extensions_means_no_extension_bit():
    header = outlet_with(ExtensionBlock([], 0, 0)).header(111, 3, 0, 1, 2, b"x")
    assert header[0] == 0x80 and len(header) == 12


def test_an_extension_block_template_matches_a_freshly_encoded_block():
    fixed = [(1, b"12")]
    template = outlet_with(ExtensionBlock(fixed, variable_id=3, variable_size=3))
    assert template.header(96, 1, 0, 0, 0, b"\x0a\x0b\x0c")[12:] == one_byte_extension_block(
        fixed + [(3, b"\x0a\x0b\x0c")])
    assert template.header(96, 1, 0, 0, 0, None)[12:] == one_byte_extension_block(fixed)
    level = outlet_with(ExtensionBlock([(1, b"0")], variable_id=2, variable_size=1))
    assert level.header(96, 1, 0, 0, 0, b"\x85")[12:] == one_byte_extension_block([(1, b"0"), (2, b"\x85")])


def test_header_fields_out_of_range_are_refused():
    outlet = outlet_with(ExtensionBlock([], 0, 0))
    for fields in ((128, 1, 0, 0, 0), (96, 1 << 32, 0, 0, 0), (96, 1, 0, 1 << 16, 0),
                   (96, 1, 0, 0, 1 << 32)):
        with pytest.raises(ValueError, match="out of range"):
            outlet.header(*fields, None)
