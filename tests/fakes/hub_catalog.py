"""Real Hub datasets and models, as the Hub and its dataset viewer show them: split and config layouts, row counts,
column shapes, parameter counts, gating. The rows are a few made-up ones in each dataset's real shape; the counts
are the real ones (the fake viewer cycles the rows up to them).

- HuggingFaceH4/ultrafeedback_binarized: one config, splits per use (train_prefs/test_prefs, train_sft/test_sft,
  train_gen/test_gen), a string prompt beside conversational chosen/rejected (DPO needs extract_prompt) and messages.
- trl-lib/Capybara: train/test of conversational messages.
- openai/gsm8k: configs main and socratic, train/test of question/answer.
- HuggingFaceM4/the_cauldron: many configs, no default, one train split each, images + texts.
- lmsys/lmsys-chat-1m: gated; the test token has not accepted its conditions.
- Models: Qwen2.5-0.5B(-Instruct) 494,032,768 parameters, SmolLM2-135M-Instruct 134,515,008, Llama-3.1-8B(-Instruct)
  8,030,261,248 (gated: the test token has no access to the base model, and has to the instruct one).

`local_copy(name, folder)` writes a dataset the way `hf download --repo-type dataset` leaves it (data/<split>-00000-of-
00001.parquet, one folder per config when there are several), so the training scripts can read "the same split" offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMIT = "c0ffee" + "0" * 34


def _chat(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _ultrafeedback_rows(count: int = 12) -> list[dict]:
    rows = []
    for i in range(count):
        prompt = f"Explain in one sentence why the number {i} is {'even' if i % 2 == 0 else 'odd'}."
        good = f"{i} is {'even' if i % 2 == 0 else 'odd'} because {i} divided by 2 leaves remainder {i % 2}."
        bad = f"{i} is a colour."
        rows.append({"prompt": prompt, "prompt_id": f"{i:064x}", "chosen": _chat(prompt, good),
                     "rejected": _chat(prompt, bad), "messages": _chat(prompt, good), "score_chosen": 8.0,
                     "score_rejected": 3.0})
    return rows


def _capybara_rows(count: int = 12) -> list[dict]:
    return [{"messages": _chat(f"What is {i} plus {i}?", f"{i} plus {i} is {2 * i}.") +
             [{"role": "user", "content": "And times two?"}, {"role": "assistant", "content": f"{4 * i}."}]}
            for i in range(count)]


def _gsm8k_rows(socratic: bool, count: int = 12) -> list[dict]:
    rows = []
    for i in range(count):
        question = f"Natalia sold {i + 2} clips in April and twice as many in May. How many clips did she sell?"
        step = f"How many clips in May? ** In May she sold {i + 2}*2 = <<{i + 2}*2={2 * (i + 2)}>>{2 * (i + 2)}."
        answer = (step if socratic else step.split("** ")[1]) + f"\n#### {3 * (i + 2)}"
        rows.append({"question": question, "answer": answer})
    return rows


def _cauldron_rows(config: str, count: int = 4) -> list[dict]:
    return [{"images": [{"src": f"/assets/HuggingFaceM4/the_cauldron/{config}/{i}.png", "height": 8, "width": 8}],
             "texts": [{"user": f"What does picture {i} of {config} show?", "assistant": "A grey square.",
                        "source": config}]} for i in range(count)]


def _lmsys_rows(count: int = 4) -> list[dict]:
    return [{"conversation_id": f"{i:032x}", "model": "vicuna-13b", "conversation": _chat("Hi", "Hello!"),
             "turn": 1, "language": "English", "openai_moderation": [], "redacted": False} for i in range(count)]


CAULDRON_CONFIGS = {"ai2d": 2434, "aokvqa": 16539, "chartqa": 18265, "vqav2": 82772}


@dataclass
class CatalogDataset:
    splits: dict[str, dict[str, list[dict]]]
    num_rows: dict[str, dict[str, int]]
    gated: bool = False
    revisions: tuple[str, ...] = ("main", COMMIT)


def datasets() -> dict[str, CatalogDataset]:
    """Dataset id -> its layout (config -> split -> rows) and real row counts."""
    uf = _ultrafeedback_rows()
    uf_counts = {"train_prefs": 61135, "train_sft": 61135, "test_prefs": 2000, "test_sft": 1000,
                 "train_gen": 61135, "test_gen": 1000}
    return {
        # The real /splits order: train_prefs, train_sft, test_prefs, test_sft, train_gen, test_gen.
        "HuggingFaceH4/ultrafeedback_binarized": CatalogDataset(
            {"default": {split: uf for split in uf_counts}}, {"default": uf_counts}),
        "trl-lib/Capybara": CatalogDataset({"default": {"train": _capybara_rows(), "test": _capybara_rows(4)}},
                                           {"default": {"train": 15806, "test": 200}}),
        "openai/gsm8k": CatalogDataset(
            {"main": {"train": _gsm8k_rows(False), "test": _gsm8k_rows(False, 4)},
             "socratic": {"train": _gsm8k_rows(True), "test": _gsm8k_rows(True, 4)}},
            {"main": {"train": 7473, "test": 1319}, "socratic": {"train": 7473, "test": 1319}}),
        "HuggingFaceM4/the_cauldron": CatalogDataset(
            {config: {"train": _cauldron_rows(config)} for config in CAULDRON_CONFIGS},
            {config: {"train": count} for config, count in CAULDRON_CONFIGS.items()}),
        "lmsys/lmsys-chat-1m": CatalogDataset({"default": {"train": _lmsys_rows()}}, {"default": {"train": 1000000}},
                                              gated=True),
    }


QWEN_05B_CONFIG = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
                   "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
                   "vocab_size": 151936, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
                   "max_position_embeddings": 32768, "model_type": "qwen2"}
LLAMA_8B_CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
                   "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                   "vocab_size": 128256, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
                   "max_position_embeddings": 131072, "model_type": "llama"}
SMOL_135M_CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 576, "intermediate_size": 1536,
                    "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "vocab_size": 49152,
                    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "max_position_embeddings": 8192,
                    "model_type": "llama"}


@dataclass
class CatalogModel:
    parameters: int
    config: dict[str, Any]
    gated: bool = False
    # Tokens that accepted a gated model's conditions (the test's canary token is added by `models()` callers).
    access: set[str] = field(default_factory=set)

    @property
    def files(self) -> dict[str, bytes]:
        return {"config.json": json.dumps(self.config).encode("utf-8")}


def models(token_with_access: str) -> dict[str, CatalogModel]:
    return {
        "Qwen/Qwen2.5-0.5B": CatalogModel(494_032_768, QWEN_05B_CONFIG),
        "Qwen/Qwen2.5-0.5B-Instruct": CatalogModel(494_032_768, QWEN_05B_CONFIG),
        "HuggingFaceTB/SmolLM2-135M-Instruct": CatalogModel(134_515_008, SMOL_135M_CONFIG),
        "meta-llama/Llama-3.1-8B": CatalogModel(8_030_261_248, LLAMA_8B_CONFIG, gated=True),
        "meta-llama/Llama-3.1-8B-Instruct": CatalogModel(8_030_261_248, LLAMA_8B_CONFIG, gated=True,
                                                         access={token_with_access}),
    }


def local_copy(name: str, folder: Path, rows_per_split: int | None = None) -> Path:
    """The dataset as `hf download <name> --repo-type dataset --local-dir <folder>` leaves it: parquet files named
    data/<split>-00000-of-00001.parquet (under <config>/ when there are several configs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entry = datasets()[name]
    several = len(entry.splits) > 1
    for config, by_split in entry.splits.items():
        base = folder / config if several else folder / "data"
        for split, rows in by_split.items():
            held = rows if rows_per_split is None else [rows[i % len(rows)] for i in range(rows_per_split)]
            base.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(held), base / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text(f"# {name}\n", encoding="utf-8")
    return folder


@dataclass
class CatalogHub:
    """The fake Hub (jobs, repos, models, datasets) and the fake dataset viewer, serving the catalog above."""

    hub: Any
    viewer: Any
    repos: dict
    models: dict[str, CatalogModel]
    datasets: dict[str, CatalogDataset]


def start_catalog(hub: Any, token: str) -> CatalogHub:
    """Serve the catalog from a started FakeHub and a new FakeDatasetViewer (the caller stops the viewer)."""
    from fakes.fake_dataset_viewer import FakeDatasetViewer
    from fakes.fake_hub_models import add_catalog_routes
    from fakes.fake_hub_repos import add_repo_routes

    viewer = FakeDatasetViewer().start()
    table = datasets()
    for name, entry in table.items():
        viewer.add(name, splits=entry.splits, num_rows=entry.num_rows, gated=entry.gated)
    catalog_models = models(token)
    repos = add_repo_routes(hub)
    add_catalog_routes(hub, catalog_models, table, repos)
    return CatalogHub(hub, viewer, repos, catalog_models, table)
