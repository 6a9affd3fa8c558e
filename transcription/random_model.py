"""A Whisper model with random weights, built locally: for tests and benchmarks, never for users.

Its text is garbage, but it loads in faster-whisper and runs the whole real pipeline at the
real cost of its dimensions. Built straight from CTranslate2's WhisperSpec (no torch, no
download), with a byte-level BPE tokenizer that holds every special token faster-whisper
looks up, in Whisper's order: text tokens, <|endoftext|>, <|startoftranscript|>, languages,
tasks, <|notimestamps|>, then 1501 timestamp tokens.

    python -m transcription.random_model OUT_DIR --dims tiny
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass

import numpy as np

N_MELS = 80
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448
TIMESTAMP_TOKENS = 1501
LANGUAGES = ("en",)
SPECIALS_BEFORE_TIMESTAMPS = (
    "<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES),
    "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
    "<|notimestamps|>",
)


@dataclass(frozen=True)
class WhisperDims:
    d_model: int
    heads: int
    encoder_layers: int
    decoder_layers: int
    # Whisper's English-only vocabulary; multilingual models have one more token per language.
    vocab_size: int = 51864

    @property
    def ffn(self) -> int:
        return 4 * self.d_model


DIMS = {
    # Small enough for a test to build in a second and run a call in milliseconds.
    "test": WhisperDims(d_model=64, heads=2, encoder_layers=2, decoder_layers=2, vocab_size=8192),
    "tiny": WhisperDims(d_model=384, heads=6, encoder_layers=4, decoder_layers=4),
    "base": WhisperDims(d_model=512, heads=8, encoder_layers=6, decoder_layers=6),
}


def build(output_dir: str, dims: WhisperDims, seed: int = 0) -> str:
    """Writes a CTranslate2 Whisper model with random weights to `output_dir`; returns it."""
    from ctranslate2.specs import whisper_spec

    rng = np.random.default_rng(seed)
    d = dims.d_model

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def linear(spec, out_dim: int, in_dim: int) -> None:
        spec.weight = weights(out_dim, in_dim)
        spec.bias = np.zeros(out_dim, np.float32)

    def norm(spec) -> None:
        spec.gamma = np.ones(d, np.float32)
        spec.beta = np.zeros(d, np.float32)

    spec = whisper_spec.WhisperSpec(dims.encoder_layers, dims.heads, dims.decoder_layers, dims.heads)
    encoder = spec.encoder
    encoder.conv1.weight, encoder.conv1.bias = weights(d, N_MELS, 3), np.zeros(d, np.float32)
    encoder.conv2.weight, encoder.conv2.bias = weights(d, d, 3), np.zeros(d, np.float32)
    encoder.position_encodings.encodings = weights(N_AUDIO_CTX, d)
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d)
        linear(layer.self_attention.linear[1], d, d)
        norm(layer.ffn.layer_norm)
        linear(layer.ffn.linear_0, dims.ffn, d)
        linear(layer.ffn.linear_1, d, dims.ffn)

    decoder = spec.decoder
    decoder.embeddings.weight = weights(dims.vocab_size, d)
    decoder.position_encodings.encodings = weights(N_TEXT_CTX, d)
    norm(decoder.layer_norm)
    decoder.projection.weight = decoder.embeddings.weight
    for layer in decoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d)
        linear(layer.self_attention.linear[1], d, d)
        norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], d, d)
        linear(layer.attention.linear[1], 2 * d, d)
        linear(layer.attention.linear[2], d, d)
        norm(layer.ffn.layer_norm)
        linear(layer.ffn.linear_0, dims.ffn, d)
        linear(layer.ffn.linear_1, d, dims.ffn)

    tokens = _vocabulary(dims.vocab_size)
    spec.register_vocabulary(tokens)
    config = spec.config
    config.suppress_ids = []
    config.suppress_ids_begin = [tokens.index("<|endoftext|>")]
    config.lang_ids = [tokens.index(f"<|{code}|>") for code in LANGUAGES]
    config.alignment_heads = [(layer, head) for layer in range(dims.decoder_layers // 2, dims.decoder_layers)
                              for head in range(dims.heads)]
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer_path = os.path.join(scratch, "tokenizer.json")
        _write_tokenizer(tokens, tokenizer_path)
        spec.register_file(tokenizer_path, "tokenizer.json")
        spec.validate()
        spec.optimize(quantization=None)
        spec.save(output_dir)
    return output_dir


def _vocabulary(size: int) -> list[str]:
    """Byte tokens, then filler merges up to the text size, then the special tokens."""
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    text_size = size - len(SPECIALS_BEFORE_TIMESTAMPS) - TIMESTAMP_TOKENS
    if text_size < len(alphabet):
        raise ValueError(f"a vocabulary of {size} leaves no room for the byte alphabet")
    merges = [a + b for a in alphabet for b in alphabet][: text_size - len(alphabet)]
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMP_TOKENS)]
    return alphabet + merges + list(SPECIALS_BEFORE_TIMESTAMPS) + timestamps


def _write_tokenizer(tokens: list[str], path: str) -> None:
    """A byte-level BPE tokenizer over `tokens`, special tokens marked special."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: index for index, token in enumerate(tokens)}
    alphabet_size = len(sorted(pre_tokenizers.ByteLevel.alphabet()))
    first_special = tokens.index("<|endoftext|>")
    merges = [(token[0], token[1]) for token in tokens[alphabet_size:first_special]]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in tokens[first_special:]])
    with open(path, "w", encoding="utf-8") as out:
        out.write(tokenizer.to_str())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir")
    parser.add_argument("--dims", choices=sorted(DIMS), default="test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.output_dir, DIMS[args.dims], args.seed))


if __name__ == "__main__":
    main()
