import numpy as np

from engagement.speaking import ActiveSpeakerDetector, level_dbov


def test_level_follows_rfc_6465():
    full_scale_square = np.full(960, 32767, dtype=np.int16)
    assert level_dbov(full_scale_square) == 0
    tone = (0.1 * 32767 * np.sin(np.linspace(0, 200 * np.pi, 9600))).astype(np.int16)
    assert level_dbov(tone) == 23  # 0.1 amplitude sine: RMS 0.0707 -> -23 dBov
    assert level_dbov(np.zeros(960, dtype=np.int16)) == 127
    assert level_dbov(np.array([], dtype=np.int16)) == 127


def test_speakers_are_ranked_and_held_through_short_pauses():
    detector = ActiveSpeakerDetector(speaking_dbov=50, hold_s=0.6)
    detector.observe("loud", 10, now=0.0)
    detector.observe("soft", 40, now=0.0)
    detector.observe("silent", 127, now=0.0)
    assert [identity for identity, _ in detector.speakers(now=0.1)] == ["loud", "soft"]
    detector.observe("loud", 127, now=0.5)  # a pause between words
    assert "loud" in dict(detector.speakers(now=0.55))
    assert "loud" not in dict(detector.speakers(now=0.7))
