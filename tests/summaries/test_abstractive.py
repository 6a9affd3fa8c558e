"""The abstractive overview from a configured transformers model, on tiny models built here from
random weights (no download): a seq2seq one (BART) and a causal one (GPT-2). Their words are noise;
what is checked is that a long class is cut into windows the model takes, each summarised, the
parts summarised again into one overview, and the extractive points with their evidence kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from summaries.abstractive import AbstractiveSummariser
from tests.summaries.lesson import LINES
from tests.summaries.test_extractive import lesson

WINDOW = 96  # tokens: the class (about 400) needs several windows


def word_tokenizer(folder: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [f"{name}: {text}" for (_, name), text in LINES] + ["summarize: Summary: Transcript:"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=WINDOW)
    fast.save_pretrained(folder)
    return fast


@pytest.fixture(scope="module")
def bart_model(tmp_path_factory) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-bart")
    tokenizer = word_tokenizer(folder)
    torch.manual_seed(0)
    config = BartConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_position_embeddings=WINDOW, pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
                        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=None)
    BartForConditionalGeneration(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def gpt2_model(tmp_path_factory) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = word_tokenizer(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=WINDOW + 32, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("model", ["bart_model", "gpt2_model"])
def test_a_long_class_is_summarised_window_by_window_into_one_overview(model, request, summariser):
    folder = request.getfixturevalue(model)
    abstractive = AbstractiveSummariser(folder, summariser, threads=1, max_new_tokens=12)
    extractive = summariser.summarise(lesson())
    summary = abstractive.summarise(lesson())
    assert abstractive.chunks_last_run >= 3
    assert summary.overview and summary.overview != extractive.overview
    # The points, and the evidence behind them, are the extractive ones.
    assert [p.text for p in summary.key_points] == [p.text for p in extractive.key_points]
    assert [p.evidence for p in summary.action_items] == [p.evidence for p in extractive.action_items]
    assert abstractive.name == f"abstractive:{folder.name}+{summariser.name}"


def test_a_model_whose_window_cannot_hold_a_summary_is_refused(gpt2_model, summariser):
    with pytest.raises(ValueError, match="too small"):
        AbstractiveSummariser(gpt2_model, summariser, max_new_tokens=WINDOW)
