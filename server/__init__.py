"""The aiohttp app: REST API, join tokens, signaling, static web client."""

__version__ = "0.1.0"
