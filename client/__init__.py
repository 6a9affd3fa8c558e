"""A Python participant for bots, tests and load generation (docs/signaling.md)."""

from .rtc_client import ClientOptions, RemoteTrack, RtcClient, SignalingError

__all__ = ["RtcClient", "ClientOptions", "RemoteTrack", "SignalingError"]
