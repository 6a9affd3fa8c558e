"""Errors the media layer raises; each carries the signaling error code it maps to."""


class MediaError(ValueError):
    code = "bad_message"


class NegotiationError(MediaError):
    code = "bad_sdp"


class PermissionDenied(MediaError, PermissionError):
    code = "forbidden"


class NotFound(MediaError, LookupError):
    code = "not_found"


class JoinRefused(MediaError):
    """A participant may not enter the room; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
