"""LocalAgreement (ufal/whisper_streaming): a word of a running transcript is stable once two
consecutive hypotheses agree on it and on every word before it. Stable words never change, so
captions stop flickering; the rest of the latest hypothesis is shown as still settling."""

from __future__ import annotations

import string

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _key(word: str) -> str:
    return word.lower().translate(_PUNCTUATION)


class LocalAgreement:
    def __init__(self) -> None:
        self._previous: list[str] = []
        self.stable: list[str] = []

    def update(self, hypothesis: list[str]) -> tuple[list[str], list[str]]:
        """The stable words and the unsettled rest of `hypothesis`. Settled words are kept;
        agreement is sought in what follows them."""
        settled = len(self.stable)
        for before, now in zip(self._previous[settled:], hypothesis[settled:]):
            if _key(before) != _key(now):
                break
            self.stable.append(now)
        self._previous = hypothesis
        return list(self.stable), hypothesis[len(self.stable):]
