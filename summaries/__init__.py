"""Class summaries: drafted from a session's events when it ends, reviewed and approved by its
instructor, only then sent to guardians (`summaries/worker.py`, `server/review.py`)."""
