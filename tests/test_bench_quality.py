"""benchmarks/bench_quality.py's pure parts: the scaled data and the comparison it prints (the runs themselves take
minutes: a benchmark, not a test)."""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_quality.py"
_spec = importlib.util.spec_from_file_location("bench_quality", _PATH)
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_quality"] = bench
_spec.loader.exec_module(bench)


def test_scaling_divides_the_conversation_lengths_and_keeps_the_rows():
    full = bench.scaled_chat_dataset(64, 1)
    scaled = bench.scaled_chat_dataset(64, 8)
    words = [sum(len(m["content"].split()) for m in row["messages"]) for row in (full, scaled) for row in row]
    assert len(full) == len(scaled) == 64
    assert sum(words[64:]) == pytest.approx(sum(words[:64]) / 8, rel=0.15)  # floors and the 1-word minimum


def test_the_comparison_prints_eval_loss_ratio_tokens_and_speed():
    ours = {"eval_loss": 4.0, "real": 1000, "computed": 1000, "steps": 2, "train_runtime": 10.0}
    reference = {"eval_loss": 5.0, "real": 1000, "computed": 1400, "steps": 16, "train_runtime": 20.0}
    result = bench.compare(ours, reference, untrained=6.0)
    assert result["eval_loss_ratio"] == pytest.approx(0.8) and result["speed_ratio"] == pytest.approx(2.0)
    assert result["improvement_ratio"] == pytest.approx(2.0)  # ours gained 2.0 where the reference gained 1.0
    text = bench.render(result)
    assert "| eval loss | 4.0000 | 5.0000 | 0.8000 |" in text and "| real tokens/s | 100 | 50 | 2.00 |" in text
    assert "| eval loss gained (untrained 6.0000) | 2.0000 | 1.0000 | 2.00 |" in text
