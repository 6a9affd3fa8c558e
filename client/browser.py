"""How a headless Chromium joins a class: the kiosk or bot that opens a join URL with
`&autojoin=1`, and the browser tests and benchmarks."""

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A fake camera and microphone, granted without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Chromium skips loopback interfaces for ICE unless told otherwise.
    "--allow-loopback-in-peer-connection",
]
