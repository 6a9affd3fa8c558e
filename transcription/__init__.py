"""Real-time transcription per speaker (faster-whisper behind an engine interface).

Takes PCM from the media layer's audio taps; knows nothing of WebRTC.
"""
