"""dataset_inspect: know before paying for a GPU whether a dataset fits a training method, and how to fix it if not.

Reads a sample (Hub datasets through the dataset viewer API with the caller's token; local files without reading
them whole), detects TRL's formats and common foreign shapes, checks the values, gives SFT/DPO/GRPO/reward/KTO a
verdict with reasons, and names a mapping it has run on the sample and re-validated. With a tokenizer it adds token
lengths of the formatted rows. The analysis itself lives in the stdlib modules dataset_formats and dataset_report,
dataset_files, dataset_viewer and mappings, which scripts/inspect_dataset.py inlines; this module adds the pydantic
models, the token and the errors people see.
"""

import os
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field, computed_field

from hf_trainer.runtime import dataset_files, dataset_report, dataset_viewer, image_rows, mappings, splits, vision
from hf_trainer.runtime.vocabulary import Method
from hf_trainer.errors import UserError
from hf_trainer.untrusted import quoted

Verdict = Literal["READY", "NEEDS MAPPING", "INCOMPATIBLE"]
# Where the viewer API lives; an environment variable so a mirror or a test server can stand in.
VIEWER_URL_ENV = "HF_TRAINER_DATASETS_SERVER"
# How long a tokenizer load waits for the Hub to answer before it uses the local cache only.
HUB_PROBE_SECONDS = 3.0


class DatasetInspectInput(BaseModel):
    """What to inspect and how."""

    dataset_name: str = Field(description="Hub dataset id (owner/name) or a local .jsonl/.json/.csv/.parquet/.arrow "
                              "file or a folder of them.", min_length=1)
    dataset_config: str | None = Field(
        default=None, description="Config (subset) name; default: 'default' or the first.")
    dataset_train_split: str | None = Field(
        default=None, description="Split to inspect; default: the split `method` trains on (train_prefs for dpo, "
                                  "train_sft for sft on ultrafeedback_binarized), else 'train', else the first.")
    dataset_revision: str | None = Field(
        default=None, max_length=256, description="Hub dataset revision (branch, tag or commit) the job reads; the "
                                                  "dataset viewer shows the main branch.")
    method: Method | None = Field(default=None, description="Training method whose formatted rows the token statistics "
                                  "measure; default: the first of sft, dpo, grpo, reward, kto that can use the data.")
    model_name_or_path: str | None = Field(
        default=None, description="Hub model id or local folder whose tokenizer measures token lengths and whose chat "
                                  "template is checked; none: no token stats.")
    max_length: int | None = Field(
        default=None, ge=1, le=1_048_576, description="Tokens per example in training; reports the share of sample "
                                                      "rows longer than this.")
    sample_size: int = Field(
        default=100, ge=1, le=2000, description="Rows read: half from the start of the split, half evenly spaced "
                                                "through the rest (so problems that start late are seen).")
    chat_template: str | None = Field(
        default=None, max_length=4096, description="A chat template the training would use instead of the model's "
                                                   "(train_sft.py --chat_template): 'chatml' or a Jinja file. Checked "
                                                   "against the sample with the model's tokenizer.")


class Source(BaseModel):
    dataset_name: str
    kind: Literal["hub", "local"]
    config: str | None = None
    split: str | None = None
    configs: list[str] = Field(default_factory=list)
    splits: list[str] = Field(default_factory=list)
    eval_split: str | None = Field(
        default=None, description="The eval split beside `split` (test_prefs beside train_prefs), which the training "
                                  "script evaluates on; None: it carves one from the split.")
    revision: str | None = Field(default=None, description="Hub dataset revision the job reads (None: main).")
    method_splits: dict[str, str] = Field(default_factory=dict, description="When the dataset names a split per use "
                                          "(train_prefs, train_sft, ...): the split each method trains on.")
    notes: list[str] = Field(default_factory=list, description="How config and split were chosen, when it matters.")
    num_rows: int | None = Field(default=None, description="Rows in the split (estimated for jsonl/json/csv).")
    num_rows_exact: bool = True
    num_bytes: int | None = Field(
        default=None, description="Bytes of the files (local) or of the parquet export (Hub).")
    files: list[str] = Field(default_factory=list)
    truncated_cells: int = Field(
        default=0, description="Cells the viewer shortened; token lengths are then lower bounds.")
    sampled_from: str | None = Field(default=None, description="Where the sample rows came from (head and spread).")
    locations: list[str] = Field(default_factory=list, description="Where each sample row came from (line, byte "
                                 "offset, row number), in sample order: issue row indices point into this list.")
    oversized_rows: int = Field(default=0, description="Rows longer than row_byte_cap bytes: counted, not parsed.")
    row_byte_cap: int | None = Field(default=None, description="Bytes read per row at most (local files).")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def data_args(self) -> list[str]:
        """The training script's arguments that make it read exactly this data: config (unless it is 'default',
        which load_dataset reads without one), split, eval split and revision (train, retry and rerun pass them, so a
        job never falls back to a 'train' split that is not there)."""
        args: list[str] = []
        config = None if self.config == "default" else self.config
        for flag, value in (("--dataset_config", config), ("--dataset_train_split", self.split),
                            ("--dataset_test_split", self.eval_split), ("--dataset_revision", self.revision)):
            if value:
                args += [flag, value]
        return args


class Issue(BaseModel):
    severity: Literal["error", "warning"]
    column: str
    message: str
    count: int = Field(description="Sample rows with this problem.")
    rows: list[int] = Field(description="Indices of up to five of them in the sample.")


class MethodVerdict(BaseModel):
    verdict: Verdict
    mapping: str | None = Field(default=None, description="Pass as --dataset_mapping to the training script.")
    reasons: list[str]


class MappingFailure(BaseModel):
    row: int
    error: str


class MappingCheck(BaseModel):
    name: str
    rows_checked: int
    failures: list[MappingFailure] = Field(description="Up to five rows the mapping could not convert.")
    failure_count: int = Field(default=0, description="Sample rows the mapping could not convert.")
    kind: str | None = Field(default=None, description="The TRL format of the mapped rows.")
    conversational: bool | None = None
    issues: list[Issue]
    validated: bool = Field(description="Ran on every sample row and the result is a valid TRL format.")
    example_before: dict[str, Any] | None = None
    example_after: dict[str, Any] | None = None
    source: str | None = Field(
        default=None, description="Self-contained Python of the mapping (for reading; the training scripts already "
                                  "have it by name).")


class TokenStats(BaseModel):
    method: str
    rows: int = Field(description="Sample rows measured.")
    failures: list[MappingFailure] = Field(default_factory=list)
    max_length: int | None = None
    mean: float | None = None
    min: int | None = None
    p50: int | None = None
    p90: int | None = None
    p95: int | None = None
    p99: int | None = None
    max: int | None = None
    truncated_share: float | None = Field(default=None, description="Share of sample rows longer than max_length.")
    image_tokens_mean: float | None = Field(
        default=None, description="Image rows: image tokens per row (processor's count).")
    image_tokens_max: int | None = None
    image_cut_rows: int | None = Field(default=None, description="Image rows whose image tokens max_length would cut.")


class DatasetInspection(BaseModel):
    """What the dataset is, which methods can train on it, and what to pass to the training script."""

    source: Source
    kind: str = Field(description="language_modeling, prompt_only, prompt_completion, preference, "
                      "implicit_preference, unpaired_preference, or a foreign shape: sharegpt, alpaca, dolly, "
                      "question_answer, prompt_response, preference_columns; unknown otherwise.")
    kind_text: str
    conversational: bool | None
    columns: list[str]
    sample_rows: int
    issues: list[Issue]
    methods: dict[str, MethodVerdict]
    mappings: dict[str, MappingCheck]
    chat_template: bool | None = Field(default=None, description="Whether the tokenizer has a chat template (None: no "
                                       "tokenizer given).")
    chat_template_used: str | None = Field(
        default=None, description="The template conversational rows were rendered with: 'model' (the tokenizer's own), "
                                  "the chat_template asked for, or None.")
    token_stats: TokenStats | None = None
    vision: dict[str, Any] | None = Field(default=None, description="Rows with images: shape, mapping, images decoded, "
                                          "placeholder mismatches, image sizes, whether the model sees images.")

    def total_tokens(self, num_train_epochs: float = 1.0) -> int | None:
        """Tokens a training run would process: rows x mean tokens per row x epochs (None when unknown)."""
        if not self.source.num_rows or not self.token_stats or self.token_stats.mean is None:
            return None
        return round(self.source.num_rows * self.token_stats.mean * num_train_epochs)

    def render(self) -> str:
        report = self.model_dump()
        # Column names come from the data: quoted, so a name holding a newline cannot start a line of the summary.
        report["columns"] = [quoted(name) for name in report.get("columns") or []]
        for issue in report.get("issues") or []:
            if isinstance(issue.get("column"), str):
                issue["column"] = quoted(issue["column"])
        text = dataset_report.render(report)
        source = self.source
        where = [f"{name} {quoted(value)}" for name, value in (("config", source.config), ("split", source.split),
                                                               ("eval split", source.eval_split),
                                                               ("revision", source.revision)) if value]
        if where:
            text += "\n  data read: " + ", ".join(where) + f" (script arguments: {' '.join(source.data_args)})"
        if len(source.splits) > 1:
            text += "\n  splits: " + ", ".join(quoted(name) for name in source.splits)
        if source.method_splits:
            text += "\n  split per method: " + ", ".join(f"{method} {quoted(split)}"
                                                       for method, split in source.method_splits.items())
        text += "".join(f"\n  note: {note}" for note in source.notes)
        return text


def default_viewer_url() -> str:
    return os.environ.get(VIEWER_URL_ENV) or dataset_viewer.DEFAULT_VIEWER_URL


def _hub_token() -> str | None:
    from huggingface_hub import get_token  # imported here: only Hub datasets need it

    return get_token()


def load_tokenizer(name_or_path: str, token: str | None) -> Any:
    """A tokenizer from a Hub id or a local folder (transformers imported here: the core must start without it)."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise UserError(f"Token statistics need a tokenizer, and transformers is not installed ({exc.name} is "
                        "missing). Install the train extra (pip install 'hf-trainer[train]'), or inspect without "
                        "model_name_or_path.") from None
    offline = False
    # os.path.expanduser leaves an unknown ~user as written (pathlib's raises RuntimeError, masked by the SDK).
    try:
        is_folder = Path(os.path.expanduser(name_or_path)).is_dir()
    except (OSError, ValueError):  # a name too long for the file system, a NUL: no folder
        is_folder = False
    if name_or_path.startswith(("/", "./", "../", "~")) and not is_folder:
        raise UserError(f"Could not load a tokenizer from {name_or_path!r} (no such folder). Pass a Hub model id or a "
                        "local folder with tokenizer files.")
    if not is_folder:
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        offline = not dataset_viewer.hub_reachable(endpoint, timeout=HUB_PROBE_SECONDS)
    try:
        return AutoTokenizer.from_pretrained(name_or_path, token=token, local_files_only=offline)
    except (OSError, ValueError) as exc:
        if offline:
            raise UserError(f"The Hub ({os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'}) cannot be "
                            f"reached from here and {name_or_path!r} is not in the local cache, so its tokenizer "
                            "cannot be loaded. Check the network (or HF_ENDPOINT), pass a local model folder, or "
                            "inspect without model_name_or_path.") from None
        raise UserError(f"Could not load a tokenizer from {name_or_path!r} ({str(exc).splitlines()[0]}). Pass a Hub "
                        "model id you can access or a local folder with tokenizer files.") from None


def load_processor(name_or_path: str, token: str | None) -> Any:
    """For rows with images: the model's processor (image processor + tokenizer), which counts image tokens; a
    text-only model has none, and its tokenizer comes back (the rows are then INCOMPATIBLE, with the reason)."""
    try:
        from transformers import AutoProcessor
    except ImportError:
        return load_tokenizer(name_or_path, token)  # says that transformers is missing
    try:
        return AutoProcessor.from_pretrained(name_or_path, token=token)
    except (OSError, ValueError, TypeError, KeyError):
        return load_tokenizer(name_or_path, token)


def _split_choice(names: list[str], split: str, method: str | None,
                  asked: str | None) -> tuple[dict[str, str], list[str]]:
    """The split each method trains on (when the dataset names one per use) and a note on how `split` was chosen."""
    per_method: dict[str, str] = {}
    for name in splits.METHOD_SPLIT_USES:
        chosen = splits.train_split(names, name)
        if chosen:
            per_method[name] = chosen
    differs = len(set(per_method.values())) > 1
    notes = []
    if not asked and differs:
        notes.append(f"split {split!r} is the one {method or 'the first method that fits'} trains on; other methods "
                     "read their own (split per method), and a plan passes the split it read")
    elif not asked and split != "train" and len(names) > 1:
        notes.append(f"no 'train' split: read {split!r} (of {', '.join(names)}); pass dataset_train_split for another")
    return (per_method if differs else {}), notes


def _read_local(params: DatasetInspectInput) -> tuple[list[dict], Source]:
    try:
        split, files, names = dataset_files.choose_local(Path(params.dataset_name), params.dataset_train_split,
                                                         params.method)
        head = (params.sample_size + 1) // 2
        sample = dataset_files.sample_files(files, head, params.sample_size - head)
    except dataset_files.DatasetFileError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"Could not read {params.dataset_name}: {exc.strerror or exc}.") from None
    if params.dataset_revision:
        raise UserError(f"dataset_revision {params.dataset_revision!r} applies to Hub datasets; "
                        f"{params.dataset_name} is a local path. Drop the revision.")
    per_method, notes = _split_choice(names, split, params.method, params.dataset_train_split)
    source = Source(dataset_name=params.dataset_name, kind="local", split=split, splits=names,
                    eval_split=splits.eval_split(names, split), method_splits=per_method, notes=notes,
                    num_rows=sample["num_rows"], num_rows_exact=sample["num_rows_exact"],
                    num_bytes=sample["num_bytes"], files=sample["files"], sampled_from=sample["sampled_from"],
                    locations=sample["locations"], oversized_rows=sample["oversized_rows"],
                    row_byte_cap=sample["row_byte_cap"])
    return sample["rows"], source


def _hub_says(dataset: str, token: str | None, exc: dataset_viewer.ViewerError) -> str | None:
    """For a dataset the viewer will not show (it answers the same for missing and gated ones), what the Hub says:
    gated without access, or missing (data_checks.repo_access); None when the Hub cannot tell either."""
    if exc.status not in (401, 403, 404) or "/" not in dataset:
        return None
    from hf_trainer.data_checks import repo_access
    from hf_trainer.hub_client import get_hf_api

    finding = repo_access(get_hf_api(token, anonymous=not token), "dataset", dataset, token)
    return f"{finding.message} {finding.fix}" if finding is not None and finding.severity == "error" else None


def _read_hub(params: DatasetInspectInput, viewer: dataset_viewer.DatasetViewer,
              token: str | None) -> tuple[list[dict], Source]:
    try:
        head = (params.sample_size + 1) // 2
        sample = dataset_viewer.sample_hub(viewer, params.dataset_name, params.dataset_config,
                                           params.dataset_train_split, head, params.sample_size - head,
                                           method=params.method)
    except dataset_viewer.ViewerError as exc:
        raise UserError(_hub_says(params.dataset_name, token, exc)
                        or dataset_viewer.explain(exc, params.dataset_name, viewer.base_url, bool(token))) from None
    per_method, notes = _split_choice(sample["splits"], sample["split"], params.method, params.dataset_train_split)
    if not params.dataset_config and len(sample["configs"]) > 1 and "default" not in sample["configs"]:
        notes.insert(0, f"{len(sample['configs'])} configs and no 'default': read {sample['config']!r} (the first); "
                        "pass dataset_config for another, and a plan passes the one it read")
    if params.dataset_revision and params.dataset_revision != "main":
        notes.append(f"the dataset viewer shows the main branch; the job reads revision {params.dataset_revision!r}")
    source = Source(dataset_name=params.dataset_name, kind="hub", config=sample["config"], split=sample["split"],
                    eval_split=sample["eval_split"], revision=params.dataset_revision, method_splits=per_method,
                    notes=notes, configs=sample["configs"], splits=sample["splits"], num_rows=sample["num_rows"],
                    num_rows_exact=sample["num_rows_exact"], num_bytes=sample["num_bytes"],
                    truncated_cells=sample["truncated_cells"], sampled_from=sample["sampled_from"],
                    locations=sample["locations"])
    return sample["rows"], source


def inspect_dataset(params: DatasetInspectInput, viewer_url: str | None = None, token: str | None = None,
                    tokenizer_loader: Callable[[str, str | None], Any] = load_tokenizer) -> DatasetInspection:
    """Inspect a Hub or local dataset. `token` defaults to the caller's Hugging Face token (HF_TOKEN or login)."""
    if dataset_files.is_local(params.dataset_name):
        rows, source = _read_local(params)
        token = None  # a local file needs no token; the tokenizer may, and then gets the caller's below
    else:
        token = token if token is not None else _hub_token()
        viewer = dataset_viewer.DatasetViewer(viewer_url or default_viewer_url(), token=token)
        rows, source = _read_hub(params, viewer, token)
        # The viewer gives image cells as signed https URLs: fetched (no token) for Hub datasets only, never for URLs
        # written in a local file, which could point anywhere on the person's network.
        rows = vision.fetch_viewer_images(rows)
    if not rows:
        where = f"Split {source.split!r} of " if source.split else ""
        raise UserError(f"{where}{params.dataset_name} has no rows to inspect (empty split or file). Pick another "
                        f"split{(' (' + ', '.join(source.splits) + ')') if source.splits else ''} or check the data.")
    tokenizer = None
    if params.model_name_or_path:
        if tokenizer_loader is load_tokenizer and image_rows.rows_have_images(rows):
            tokenizer_loader = load_processor
        tokenizer = tokenizer_loader(params.model_name_or_path, token if token is not None else _hub_token())
    if params.chat_template and tokenizer is None:
        raise UserError("chat_template is checked with the model's tokenizer: pass model_name_or_path too.")
    try:
        report = dataset_report.analyse(rows, mappings.MAPPINGS, tokenizer=tokenizer, max_length=params.max_length,
                                         method=params.method, mapping_source=mappings.mapping_source,
                                         chat_template=params.chat_template)
    except ValueError as exc:
        if params.chat_template and "chat template" in str(exc):
            raise UserError(f"{exc}.") from None
        raise
    return DatasetInspection(source=source, **report)
