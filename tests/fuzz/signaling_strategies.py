"""Hypothesis strategies for signaling frames: random JSON and text, unknown types, and what a
hostile or broken client would send: valid messages (docs/signaling.md) with fields dropped,
retyped, bloated or added, malformed SDP offers and answers, malformed ICE candidates."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# A publisher offer as aiortc writes it (audio + video), fixed so that runs are reproducible.
OFFER_SDP = "\r\n".join([
    "v=0", "o=- 4004634981 4004634981 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "a=msid-semantic:WMS *",
    "m=audio 9 UDP/TLS/RTP/SAVPF 96 0", "c=IN IP4 0.0.0.0", "a=sendonly",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=mid:0",
    "a=msid:81177638-3fe7-40b6-a408-2386b088b04f 2fa091f0-8745-44e0-a590-0357b8d2d50a",
    "a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp-mux", "a=ssrc:1399181803 cname:b059c00b",
    "a=rtpmap:96 opus/48000/2", "a=rtpmap:0 PCMU/8000",
    "a=ice-ufrag:8M59", "a=ice-pwd:mThMXBOG47OrO1xQpFW94d",
    "a=fingerprint:sha-256 E8:A4:25:BF:36:2F:B5:23:B1:B0:FC:CF:A4:8D:2F:0D:CB:E3:8D:C1:68:59:C2:56:65:F2:CE:FC:8F:CB:A9:87",
    "a=setup:actpass",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98", "c=IN IP4 0.0.0.0", "a=sendonly",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=mid:1",
    "a=msid:81177638-3fe7-40b6-a408-2386b088b04f 288b8955-d099-482e-b1dc-a6ece7973aab",
    "a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp-mux", "a=ssrc-group:FID 685884274 1718089951",
    "a=ssrc:685884274 cname:b059c00b", "a=ssrc:1718089951 cname:b059c00b",
    "a=rtpmap:97 VP8/90000", "a=rtcp-fb:97 nack", "a=rtcp-fb:97 nack pli",
    "a=rtpmap:98 rtx/90000", "a=fmtp:98 apt=97",
    "a=ice-ufrag:8M59", "a=ice-pwd:mThMXBOG47OrO1xQpFW94d",
    "a=fingerprint:sha-256 E8:A4:25:BF:36:2F:B5:23:B1:B0:FC:CF:A4:8D:2F:0D:CB:E3:8D:C1:68:59:C2:56:65:F2:CE:FC:8F:CB:A9:87",
    "a=setup:actpass", ""])
CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"

# One valid message of every client type a student may send (`leave` ends the socket: it has a
# test of its own). Moderator-only ones are refused to a student, as they should be.
TEMPLATES: dict[str, dict[str, Any]] = {
    "offer": {"type": "offer", "target": "publisher", "sdp": OFFER_SDP,
              "tracks": [{"mid": "0", "source": "microphone"}, {"mid": "1", "source": "camera"}]},
    "answer": {"type": "answer", "target": "subscriber", "sdp": OFFER_SDP.replace("actpass", "active")},
    "candidate": {"type": "candidate", "target": "publisher",
                  "candidate": {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}},
    "mute": {"type": "mute", "source": "microphone", "muted": True},
    "moderate": {"type": "moderate", "action": "mute", "identity": "teacher", "source": "microphone"},
    "update_subscription": {"type": "update_subscription", "sids": ["TR_x"], "enabled": False},
    "chat": {"type": "chat", "text": "hello", "to": None},
    "hand": {"type": "hand", "raised": True},
    "reaction": {"type": "reaction", "emoji": "👍"},
    "poll_create": {"type": "poll_create", "question": "2+2?", "options": ["3", "4"], "correct": 1},
    "poll_answer": {"type": "poll_answer", "poll_id": "poll_1", "option": 0},
    "poll_end": {"type": "poll_end", "poll_id": "poll_1"},
    "recording": {"type": "recording", "action": "start"},
    "visibility": {"type": "visibility", "visible": False},
    "quality": {"type": "quality", "rtt_ms": 20, "packet_loss": 0.01, "jitter_ms": 3},
    "ping": {"type": "ping", "ts": 1},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25)

# Strings a field may be bloated to, by their size in the JSON frame: around the 256 KiB message
# limit, and below it (frames over 1 MiB, where aiohttp closes the socket, have a test of their own).
huge_strings = st.builds(lambda char, size: char * (size // len(json.dumps(char)[1:-1])),
                         st.sampled_from(["x", "é", "\x00", "💥", "\r\n"]),
                         st.sampled_from([10_000, 200_000, 262_000, 300_000]))


@st.composite
def mutated_text(draw: st.DrawFn, text: str, separator: str) -> str:
    """`text` cut into parts at `separator`; parts deleted, repeated, swapped, truncated,
    or replaced with random text, numbers out of range, or junk bytes."""
    parts = text.split(separator)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(parts) - 1))
        action = draw(st.sampled_from(["delete", "repeat", "swap", "truncate", "replace", "number", "junk"]))
        if action == "delete" and len(parts) > 1:
            del parts[index]
        elif action == "repeat":
            parts[index:index] = [parts[index]] * draw(st.sampled_from([1, 2, 50, 500]))
        elif action == "swap":
            other = draw(st.integers(0, len(parts) - 1))
            parts[index], parts[other] = parts[other], parts[index]
        elif action == "truncate":
            parts[index] = parts[index][:draw(st.integers(0, len(parts[index])))]
        elif action == "replace":
            parts[index] = draw(st.text(max_size=60))
        elif action == "number":
            number = draw(st.sampled_from([-1, 0, 65536, 2**31, 2**63, 10**40])) if draw(st.booleans()) \
                else draw(st.integers())
            words = parts[index].split(" ")
            words[draw(st.integers(0, len(words) - 1))] = str(number)
            parts[index] = " ".join(words)
        else:
            parts[index] += draw(st.text(st.characters(max_codepoint=0x2FF), max_size=20))
    return separator.join(parts)


def sdps() -> st.SearchStrategy[str]:
    lines_mutated = mutated_text(OFFER_SDP, "\r\n")
    return st.one_of(
        lines_mutated,
        lines_mutated.map(lambda sdp: sdp.replace("\r\n", "\n")),  # bare line feeds
        mutated_text(OFFER_SDP, " "),  # words within lines
        st.text(max_size=200),  # not SDP at all
        huge_strings,
        # Hundreds of m-lines.
        st.integers(2, 400).map(lambda n: OFFER_SDP + OFFER_SDP[OFFER_SDP.index("m=video"):] * n),
    )


def ice_candidates() -> st.SearchStrategy[Any]:
    strings = st.one_of(mutated_text(CANDIDATE, " "), st.text(max_size=80), huge_strings,
                        st.builds("candidate:{} 1 udp 1 {} {} typ host".format, st.text(max_size=5),
                                  st.sampled_from(["127.0.0.1", "::1", "999.1.1.1", "0.0.0.0", "a.local",
                                                   "127.0.0.1 127.0.0.1", ""]),
                                  st.integers(-10, 70_000)))
    candidate = st.fixed_dictionaries(
        {"candidate": strings},
        optional={"sdpMid": st.one_of(st.sampled_from(["0", "1", "9"]), json_values),
                  "sdpMLineIndex": st.one_of(st.integers(-2, 5), json_values)})
    return st.one_of(candidate, json_values)


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "sdp": sdps(),
    "candidate": ice_candidates(),
    "tracks": st.lists(st.fixed_dictionaries({}, optional={
        "mid": st.one_of(st.sampled_from(["0", "1", "7"]), json_values),
        "source": st.one_of(st.sampled_from(["microphone", "camera", "screen", "smell"]), json_values)}),
        max_size=300),
}


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message with one to three things wrong with it."""
    message = dict(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))])
    for _ in range(draw(st.integers(1, 3))):
        if not message:  # everything dropped: only something new can be added
            message[draw(st.text(max_size=12))] = draw(json_values)
            continue
        name = draw(st.sampled_from(sorted(message)))
        action = draw(st.sampled_from(["drop", "retype", "bloat", "special", "extra"]))
        if action == "drop":
            message.pop(name, None)
        elif action == "retype":
            message[name] = draw(json_values)
        elif action == "bloat":
            message[name] = draw(huge_strings)
        elif action == "special" and name in FIELD_VALUES:
            message[name] = draw(FIELD_VALUES[name])
        else:
            message[draw(st.text(max_size=12))] = draw(json_values)
    return message


def _dumps(value: Any) -> str:
    return json.dumps(value)  # NaN and Infinity too: Python's json reads them back


sdp_messages = st.builds(
    lambda template, sdp, extra: _dumps({**TEMPLATES[template], "sdp": sdp, **extra}),
    st.sampled_from(["offer", "answer"]), sdps(),
    st.fixed_dictionaries({}, optional={"tracks": FIELD_VALUES["tracks"],
                                        "target": st.sampled_from(["publisher", "subscriber", "both"])}))
candidate_messages = st.builds(
    lambda target, candidate: _dumps({"type": "candidate", "target": target, "candidate": candidate}),
    st.sampled_from(["publisher", "subscriber"]), ice_candidates())

frames = st.one_of(
    sdp_messages, sdp_messages,
    candidate_messages, candidate_messages,
    mutated_messages().map(_dumps), mutated_messages().map(_dumps), mutated_messages().map(_dumps),
    st.builds(lambda kind, rest: _dumps({**rest, "type": kind}), st.one_of(st.text(max_size=30), json_values),
              st.dictionaries(st.text(max_size=10), json_values, max_size=4)),  # unknown types
    json_values.map(_dumps),  # any JSON at all
    st.text(max_size=200),  # not JSON
    st.binary(max_size=200),  # binary frames
)
