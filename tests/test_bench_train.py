"""The pure parts of benchmarks/bench_train.py: the length sampler's statistics and the padding arithmetic."""

import importlib.util
import json
import math
import random
import statistics
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
_spec = importlib.util.spec_from_file_location("bench_train", _PATH)
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_train"] = bench  # dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("mean, std", [
    (69.5, 143.4),   # LMSYS-Chat-1M prompt tokens: std twice the mean (a long tail)
    (214.5, 226.4),  # LMSYS-Chat-1M response tokens
    (10.0, 0.0),     # no spread: a point mass at the mean
])
def test_lognormal_params_reproduce_the_mean_and_standard_deviation(mean, std):
    mu, sigma = bench.lognormal_params(mean, std)
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(mean)
    assert math.sqrt((math.exp(sigma**2) - 1) * math.exp(2 * mu + sigma**2)) == pytest.approx(std, abs=1e-9)


def test_lognormal_params_refuse_a_non_positive_mean():
    with pytest.raises(ValueError, match="mean > 0"):
        bench.lognormal_params(0.0, 1.0)


def test_sampled_response_lengths_match_the_published_mean_and_are_long_tailed():
    rng = random.Random(1)
    draws = [bench.sample_lognormal_int(rng, *bench.LMSYS_RESPONSE_TOKENS) for _ in range(40_000)]
    assert statistics.fmean(draws) == pytest.approx(214.5, rel=0.03)
    # Long tail: the median sits well below the mean, and a few draws are several times the mean.
    assert statistics.median(draws) < 0.8 * statistics.fmean(draws)
    assert max(draws) > 5 * 214.5
    assert min(draws) >= 1


def test_sampled_turns_average_the_published_two_exchanges():
    rng = random.Random(2)
    turns = [bench.sample_turns(rng) for _ in range(20_000)]
    assert statistics.fmean(turns) == pytest.approx(bench.LMSYS_TURNS_MEAN, rel=0.03)
    assert min(turns) == 1


def test_conversation_tokens_add_the_template_framing_of_both_messages():
    # Two exchanges, four messages, five framing tokens each.
    assert bench.conversation_tokens([(10, 20), (1, 2)]) == 33 + 4 * bench.TEMPLATE_TOKENS_PER_MESSAGE


@pytest.mark.parametrize("lengths, batch, max_length, expected", [
    ([4, 4, 4, 4], 2, None, (16, 16)),          # equal lengths: nothing padded
    ([1, 3, 2, 2], 2, None, (8, 10)),           # first batch padded to 3: 2 padding tokens
    ([10, 2, 5], 2, None, (17, 25)),            # last, short batch: one row of 5
    ([10, 2, 5], 2, 4, (10, 12)),               # truncation first: rows 4, 2 | 4
    ([], 4, None, (0, 0)),                      # no data
])
def test_padded_batches_count_real_and_computed_tokens(lengths, batch, max_length, expected):
    assert bench.padded_batches(lengths, batch, max_length) == expected


@pytest.mark.parametrize("real, computed, share", [
    (8, 10, 0.2),   # two of ten computed tokens were padding
    (16, 16, 0.0),  # packed padding-free batches: none
    (0, 0, 0.0),    # nothing computed
])
def test_padding_share_is_the_padded_fraction_of_computed_tokens(real, computed, share):
    assert bench.padding_share(real, computed) == pytest.approx(share)


def test_padding_share_refuses_more_real_than_computed_tokens():
    with pytest.raises(ValueError, match="cannot exceed"):
        bench.padding_share(11, 10)


def test_unpacked_batches_of_chat_lengths_waste_a_large_share_on_padding():
    # Why packing matters: pad-to-longest batches of 4 on LMSYS-like lengths are far above the 5% target.
    rng = random.Random(3)
    lengths = [bench.conversation_tokens(bench.sample_conversation_lengths(rng)) for _ in range(2000)]
    share = bench.padding_share(*bench.padded_batches(lengths, 4, 1024))
    assert share > 0.3


def test_read_stats_totals_batches_and_keeps_losses_in_order(tmp_path):
    lines = [{"computed": 40, "real": 30, "rows": 4}, {"step": 1, "loss": 2.5}, {"computed": 20, "real": 20, "rows": 1},
             {"step": 2, "loss": 2.0}, {"train_runtime": 3.0}, {"peak_rss_bytes": 7, "eval_loss": 1.9}]
    path = tmp_path / "stats.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    stats = bench.read_stats(path)
    assert (stats["real"], stats["computed"], stats["losses"]) == (50, 60, [2.5, 2.0])
    assert (stats["train_runtime"], stats["eval_loss"]) == (3.0, 1.9)


def test_interleaved_order_alternates_which_configuration_runs_first():
    assert bench.interleaved_order(["a", "b"], 3) == [(0, "a"), (0, "b"), (1, "b"), (1, "a"), (2, "a"), (2, "b")]


def test_tail_mean_averages_the_last_quarter_of_losses():
    assert bench.tail_mean([4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert bench.tail_mean([]) is None


def test_mfu_counts_6n_or_4n_flops_per_token_plus_causal_attention():
    model = {"parameters": 1000, "layers": 2, "hidden_size": 10}
    # attention: 6 * 2 layers * 10 hidden * 50 tokens = 6000 FLOPs per token
    result = bench.mfu(tokens_per_second=10.0, model=model, seq_len=50, peak=1e6)
    assert result["mfu_6n"] == pytest.approx(10 * (6000 + 6000) / 1e6)
    assert result["mfu_4n"] == pytest.approx(10 * (4000 + 6000) / 1e6)
