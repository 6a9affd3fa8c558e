"""An abstractive overview from a transformers model the deployment names (`--summary-model PATH`,
a local folder: a seq2seq summariser such as BART or T5, or an instruction-tuned causal model).

Built from the same evidence as the extractive summary, whose topics, key points and action items
(each with its transcript evidence) are kept; the model writes the overview. A long class is cut
into chunks that fit the model, each chunk summarised, then the chunk summaries summarised
together (again in chunks, until one is left).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .summariser import ClassSummary, Lesson, Summariser, SummariserBase

OVERVIEW_TOKENS = 200
MIN_OVERVIEW_TOKENS = 8
MAX_INPUT_TOKENS = 1024
INSTRUCTION = ("Summarise this part of a class for the teacher and for parents, in a few sentences: "
               "what was taught, what students asked, what was set for next time.")


class AbstractiveSummariser(SummariserBase):
    def __init__(self, model_path: Path, extractive: Summariser, threads: int = 2,
                 max_new_tokens: int = OVERVIEW_TOKENS) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        torch.set_num_threads(threads)
        self._torch = torch
        self._extractive = extractive
        self._max_new_tokens = max_new_tokens
        config = AutoConfig.from_pretrained(str(model_path))
        self._seq2seq = bool(config.is_encoder_decoder)
        model_class = AutoModelForSeq2SeqLM if self._seq2seq else AutoModelForCausalLM
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self._model: Any = model_class.from_pretrained(str(model_path)).eval()
        pad = self._tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self._tokenizer.eos_token_id
        self._t5 = config.model_type in ("t5", "mt5", "umt5")
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        limit = min(value for value in (self._tokenizer.model_max_length, positions, MAX_INPUT_TOKENS) if value)
        # Causal models read the prompt and write the summary in one window.
        self._window = limit - (0 if self._seq2seq else max_new_tokens)
        self._input_budget = self._window - len(self._tokenizer(self._prompt("")).input_ids)
        if self._input_budget < 32:
            raise ValueError(f"{model_path}: the model's window ({limit} tokens) is too small to summarise with")
        super().__init__(f"abstractive:{model_path.name}+{extractive.name}")
        self.chunks_last_run = 0

    def _close(self) -> None:
        """The model goes with its last reference; the extractive summariser inside closes too."""
        self._model = None
        close = getattr(self._extractive, "close", None)
        if callable(close):
            close()

    def _summarise(self, lesson: Lesson) -> ClassSummary:
        summary = self._extractive.summarise(lesson)
        lines = [f"{s.utterance.name}: {s.text}" for s in lesson.sentences]
        if not lines:
            return summary
        chunks = self._chunks(lines)
        self.chunks_last_run = len(chunks)
        parts = [self._generate(chunk) for chunk in chunks]
        while len(parts) > 1:
            merged = self._chunks(parts)
            if len(merged) >= len(parts):  # each part alone fills a window: keep the first ones
                merged = merged[:1]
            parts = [self._generate(chunk) for chunk in merged]
        summary.overview = parts[0] or summary.overview
        return summary

    def _prompt(self, text: str) -> str:
        if self._seq2seq:
            return ("summarize: " if self._t5 else "") + text
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(
                [{"role": "user", "content": f"{INSTRUCTION}\n\n{text}"}], tokenize=False, add_generation_prompt=True)
        return f"{INSTRUCTION}\n\nTranscript:\n{text}\n\nSummary:"

    def _count(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False).input_ids)

    def _chunks(self, lines: list[str]) -> list[str]:
        """Whole lines packed into windows of the input budget (a line longer than one is cut)."""
        chunks: list[str] = []
        current: list[str] = []
        used = 0
        for line in lines:
            size = self._count(line) + 1
            if size > self._input_budget:
                ids = self._tokenizer(line, add_special_tokens=False).input_ids[:self._input_budget - 1]
                line, size = self._tokenizer.decode(ids), self._input_budget
            if current and used + size > self._input_budget:
                chunks.append("\n".join(current))
                current, used = [], 0
            current.append(line)
            used += size
        if current:
            chunks.append("\n".join(current))
        return chunks

    def _generate(self, text: str) -> str:
        torch = self._torch
        inputs = self._tokenizer(self._prompt(text), return_tensors="pt", truncation=True, max_length=self._window)
        with torch.inference_mode():
            # A summary is never empty: a model that would stop at once is made to say something.
            output = self._model.generate(**inputs, max_new_tokens=self._max_new_tokens,
                                          min_new_tokens=min(MIN_OVERVIEW_TOKENS, self._max_new_tokens),
                                          do_sample=False, num_beams=1, pad_token_id=self._pad_id)
        if not self._seq2seq:
            output = output[:, inputs["input_ids"].shape[1]:]
        return self._tokenizer.decode(output[0], skip_special_tokens=True).strip()
