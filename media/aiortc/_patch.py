"""How the modules of media/aiortc put their code in place of aiortc's and aioice's.

`replace` swaps one attribute (a module function, a class's method, one instance's method) and
fails at once, naming the attribute, when aiortc or aioice no longer has it: a missing hook
point must stop the SFU, not leave a replacement nothing calls. Name-mangled private
attributes (`_RTCRtpReceiver__remote_streams` ...) are read and written with getattr/setattr
under their literal names, which mypy cannot see: tests/media/aiortc checks they exist.
"""

from __future__ import annotations


def replace(owner: object, name: str, replacement: object) -> object:
    """Set `owner.name` to `replacement`; returns what was there."""
    try:
        original = getattr(owner, name)
    except AttributeError:
        raise AttributeError(f"{owner!r} has no {name!r} any more: aiortc or aioice changed "
                             "under media/aiortc (see tests/media/aiortc)") from None
    setattr(owner, name, replacement)
    return original
