"""train: from intent to a job that will not waste money, in one call.

Method, model, dataset and output repo in; out comes the plan: the dataset checked (and mapped when it needs a
mapping), the run estimated on every flavor, the flavor picked (the cheapest that fits within the time limit, or the
one asked for), the job built from the bundled script (arguments only, never generated code), preflight run, and what
lands where. Nothing is submitted unless the caller passes `confirm=True` (after showing the plan to the person);
`max_cost_usd` refuses plans above it. Submitting the same output repo again resumes from its last pushed checkpoint.

Dependencies (the inspector, the estimator, the backend) are parameters, so tests pass fakes.
"""

import difflib
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field

from hf_trainer import paths
from hf_trainer.errors import UserError
from hf_trainer.jobs.base import BackendName, JobBackend, JobInfo
from hf_trainer.jobs import submit
from hf_trainer.jobs.records import ESTIMATE_LABEL
from hf_trainer.preflight import PreflightReport
from hf_trainer.runtime.train_common import DEFAULT_TRACKIO_PROJECT, default_run_name
from hf_trainer.runtime.vocabulary import Method, Resume, timeout_seconds as job_timeout_seconds
from hf_trainer.bundled_scripts import METHOD_SCRIPTS, VISION_SCRIPT, bundled
from hf_trainer import benchmark_plan
from hf_trainer.benchmark_plan import BenchmarkPlan
from hf_trainer.plan_decisions import Decision, plan_decisions
from hf_trainer.smoke import SmokePlan
from hf_trainer.timeouts import format_duration, parse_timeout

# When the dataset's size cannot be measured in tokens, a conservative guess keeps the estimate usable, with a warning.
FALLBACK_TOKENS_PER_ROW = 512
LOCAL_TIMEOUT_SECONDS = 6 * 3600
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class TrainRequest(BaseModel):
    """A training run, in TRL's vocabulary. Only method, model, dataset and (for the Hub) the output repo are needed."""

    method: Method = Field(description="sft, dpo, grpo, reward or kto.")
    model_name_or_path: str = Field(min_length=1, description="Base model: Hub id or local folder.")
    dataset_name: str = Field(min_length=1, description="Hub dataset id, or a local file/folder (local backend).")
    namespace: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$", description="Hub namespace "
                                  "the job runs in and is billed to: an organisation with credits (e.g. one that "
                                  "grants free GPU time); default: yours. The output repo is separate "
                                  "(hub_model_id).")
    hub_model_id: str | None = Field(None, description="Output model repo, e.g. 'you/qwen-sft'. Default on the Hub: "
                                     "'<you>/<model>-<method>' in your namespace (a -2, -3 suffix when another run "
                                     "holds that name), private unless hub_private_repo is False; the plan shows it.")
    output_dir: str | None = Field(None, description="Local backend: where the model is saved (default "
                                   "./outputs/<model>-<method>).")
    backend: BackendName | None = Field(None, description="'hub' (default with a token) or 'local'.")
    flavor: str | None = Field(None, description="Hardware flavor; default: the cheapest that fits the time limit.")
    max_cost_usd: float | None = Field(None, gt=0, description="Refuse plans whose estimated cost is above this.")
    time_limit: str | None = Field(None, description="Longest acceptable run, e.g. '2h'; also the job timeout floor.")
    dataset_config: str | None = Field(None, description="Dataset config (subset); default: the one dataset_inspect "
                                       "reads ('default', else the first). The job gets the one inspected.")
    dataset_train_split: str | None = Field(None, description="Split to train on; default: the one the method trains "
                                            "on (train_prefs for dpo, train_sft for sft on ultrafeedback_binarized; "
                                            "else train). The job gets the one inspected.")
    dataset_test_split: str | None = Field(None, description="Eval split; default: the one beside the train split "
                                           "(test_prefs beside train_prefs), else test or validation, else carved.")
    dataset_revision: str | None = Field(None, max_length=256, description="Hub dataset revision (branch, tag or "
                                         "commit) the job reads; default: main.")
    dataset_mapping: str | None = Field(None, description="Override the mapping dataset_inspect picks.")
    num_train_epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    per_device_train_batch_size: int | None = Field(None, ge=1)
    gradient_accumulation_steps: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=16)
    use_peft: bool = Field(True, description="LoRA (default): cheaper, smaller outputs. False: full fine-tuning.")
    lora_r: int | None = Field(None, ge=1)
    load_in_4bit: bool = False
    reward_funcs: list[str] | None = Field(None, description="grpo: built-in rewards by name, e.g. ['accuracy'].")
    use_vllm: bool | None = Field(None, description="grpo: generate with vLLM colocated on each GPU (--use_vllm; the "
                                  "job installs vllm). Default on the Hub: when the estimate says it is cheaper, or "
                                  "as cheap and faster; the plan says which and why.")
    extra_args: list[str] = Field(default_factory=list, description="More script arguments, passed as they are.")
    hub_private_repo: bool = Field(True, description="Private output repo (default).")
    trackio_project: str = Field(DEFAULT_TRACKIO_PROJECT, min_length=1, max_length=96, pattern=r"^[\w.-]+$",
                                 description="Trackio project: runs of one project share a dashboard.")
    run_name: str | None = Field(None, max_length=128, pattern=r"^[\w.-]+$", description="Run name in the "
                                 "dashboard; default <model>-<data>-<method>-<UTC time>.")
    eval_baseline: bool | None = Field(None, description="Score the base model before training and the result "
                                       "after (the card shows both). Default: on when it adds under 5% of the "
                                       "estimated time; the plan says which and why.")
    benchmark_tasks: str | None = Field(None, max_length=500, description="After training, score the pushed model "
                                        "and its base on standard benchmarks (EleutherAI's lm-evaluation-harness): "
                                        "'default' (ifeval, gsm8k, mmlu) or comma-separated harness task names. A "
                                        "second job on the same flavor, sent by the training job when it succeeds; "
                                        "the plan prices it. Hub only, with hub_model_id.")
    resume: Resume = Field("auto", description="With an output repo or folder that holds a checkpoint: 'auto' "
                           "continues it only when the same run made it (base model, method, data, training "
                           "arguments) and else starts fresh, 'never' always starts fresh, 'must' fails unless it "
                           "can continue. A mismatch is named before any training.")
    smoke: bool = Field(False, description="First a one-step rehearsal of the same job (same script, data and "
                        "arguments; save, evaluation, card and push to a throw-away '<hub_model_id>-smoke' repo) on "
                        "the cheapest flavor that fits it; the full job is sent only when it COMPLETED. The plan "
                        "prices both. Worth it for long or expensive runs.")
    confirm: bool = Field(False, description="Submit. Only after the person approved the plan and its cost.")
    force: bool = Field(False, description="Submit even when preflight finds errors; never a leaked secret, nor a "
                        "model or dataset the job cannot read (missing, gated, or without the config/split asked).")


class TrainPlan(BaseModel):
    """The job that would run (or ran), what it costs, and where the results go."""

    method: str
    backend: BackendName
    namespace: str | None = Field(default=None, description="The organisation the job runs in and is billed to "
                                  "(none: the person's own account).")
    script: str
    script_args: list[str]
    flavor: str | None
    price_per_hour: float | None
    estimated_hours: float | None
    estimated_cost_usd: float | None
    timeout: str
    timeout_seconds: int
    model_repo: str | None
    model_url: str | None
    model_repo_note: str | None = Field(None, description="Why this output repo: the default in your namespace, and "
                                        "whether it is private.")
    data_read: str = Field("", description="The config, split, eval split and revision the job reads: the ones "
                           "inspection read.")
    output_dir: str | None = Field(None, description="Where a local run saves the model.")
    trackio_project: str
    run_name: str | None = None
    dataset_verdict: str
    dataset_mapping: str | None
    labels: dict[str, str]
    preflight: PreflightReport
    warnings: list[str]
    changes: list[str] = Field(default_factory=list, description="What the flavor needs for the job to fit, "
                               "already applied to script_args.")
    change_args: list[str] = Field(default_factory=list, description="The script flags those changes set.")
    decisions: list[Decision] = Field(default_factory=list, description="Changes of method, model, precision or "
                                      "data among those changes: the person's to decide, each with the flavor "
                                      "that keeps the run as asked and its price.")
    smoke: SmokePlan | None = Field(default=None, description="The one-step rehearsal sent first (smoke: true).")
    resume: Resume = "auto"
    baseline: str = Field("", description="Whether the baseline evaluation runs, and why.")
    generation: str = Field("", description="grpo: vLLM or transformers' generate for the rollouts, and why.")
    dependencies: list[str] = Field(default_factory=list, description="Packages the job installs beyond the "
                                    "script's header (hf jobs uv run --with), e.g. vllm for GRPO with vLLM.")
    benchmark: BenchmarkPlan | None = Field(None, description="The standard-benchmark job sent after training "
                                            "(benchmark_tasks), with its own time and cost.")
    submitted: bool = False
    job: JobInfo | None = None
    job_url: str | None = None
    trackio_url: str | None = None

    def render(self) -> str:
        cost = (f"~{format_duration(self.estimated_hours * 3600)}, ~${self.estimated_cost_usd:.2f} "
                f"(${self.price_per_hour:.2f}/h)" if self.estimated_hours is not None and
                self.estimated_cost_usd is not None and self.price_per_hour is not None else "not estimated")
        lines = [
            f"{'SUBMITTED' if self.submitted else 'PLAN (not submitted)'}: {self.method.upper()} with "
            f"{self.script} on {self.backend}" + (f" / {self.flavor}" if self.flavor else ""),
            *([f"  billed to      {self.namespace} (the job runs in this organisation's namespace)"]
              if self.namespace else []),
            f"  time and cost  {cost}",
            f"  timeout        {self.timeout}",
            f"  dataset        {self.dataset_verdict}" + (f" (mapping {self.dataset_mapping})"
                                                         if self.dataset_mapping else ""),
            *([f"  data read      {self.data_read}"] if self.data_read else []),
            f"  results        {self.model_url}" + (f" ({self.model_repo_note})" if self.model_repo_note else "")
            if self.model_repo else
            f"  results        {self.output_dir or 'the job output folder'}",
            f"  resume         {self.resume}: " + _RESUME_TEXT[self.resume],
            f"  baseline eval  {self.baseline}",
            *([f"  generation     {self.generation}"] if self.generation else []),
            *([f"  installs       {' '.join(self.dependencies)} (--with)"] if self.dependencies else []),
            *([f"  benchmark      {self.benchmark.text}"] if self.benchmark else []),
            f"  metrics        trackio project {self.trackio_project}, run {self.run_name}"
            + (f": {self.trackio_url}" if self.trackio_url else ""),
            "  " + self.preflight.render().replace("\n", "\n  "),
        ]
        if self.changes:
            lines.insert(2, f"  fits with      {', '.join(self.changes)} (set: {' '.join(self.change_args)})")
            lines[3:3] = [f"  {d.render()}" for d in self.decisions]
        if self.smoke is not None:
            total = (f"; both jobs ~${self.estimated_cost_usd + self.smoke.estimated_cost_usd:.2f} (the rehearsal "
                     f"adds {self.smoke.estimated_cost_usd / self.estimated_cost_usd:.0%})"
                     if self.estimated_cost_usd and self.smoke.estimated_cost_usd is not None else "")
            lines.insert(2, "  " + self.smoke.render().replace("\n", "\n  ") + total)
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.submitted and self.job:
            lines += [f"  job id         {self.job.id}", f"  job url        {self.job_url or self.job.url}",
                      "  next           check status only when asked: hf_jobs inspect/logs with this job id"]
        elif not self.preflight.ok:
            lines.append("  next           fix the errors above (or pass force: true), then ask the person")
        elif self.decisions:
            lines.append("  next           put each DECISION above to the person (the change, or the flavor that "
                         "keeps the run as asked); submit with confirm: true only after they chose")
        else:
            lines.append("  next           show this plan and its cost to the person; submit with confirm: true")
        return "\n".join(lines)


_RESUME_TEXT = {"auto": "continues a checkpoint only when the same run made it (model, method, data, arguments); "
                        "otherwise starts fresh",
                "never": "always starts fresh", "must": "fails unless a checkpoint of the same run exists"}


# NVIDIA's TAO skill scores the base model before every fine-tune; we do it by default when it is cheap.
BASELINE_SHARE_LIMIT = 0.05
# The scripts that take --eval_baseline (train_reward.py's eval already reports pair accuracy).


def baseline_choice(req: TrainRequest, script_name: str, row: Any) -> tuple[bool, str]:
    """Whether the job runs --eval_baseline, and the plan's line saying why."""
    if req.eval_baseline is not None:
        return req.eval_baseline, "on (asked for)" if req.eval_baseline else "off (turned off)"
    if not (entry := bundled(script_name)) or not entry.baseline:
        return False, f"off: {script_name} has no baseline evaluation"
    if row is None or not row.hours:
        return False, "off: the run could not be estimated"
    if "--fsdp" in [*(getattr(row, "script_args", None) or []), *req.extra_args]:
        return False, "off: a sharded (--fsdp) model cannot generate on one process"
    split = req.extra_args[req.extra_args.index("--eval_split_size") + 1] if "--eval_split_size" in req.extra_args[:-1] \
        else None
    if split is not None and float(split) == 0:
        return False, "off: no eval rows (--eval_split_size 0)"
    seconds = getattr(row, "baseline_eval_s", None)
    if not seconds:
        return False, "off: the estimate has no figure for it"
    share = seconds / (row.hours * 3600)
    if share >= BASELINE_SHARE_LIMIT:
        return False, (f"off: it would add {format_duration(seconds)}, {share:.0%} of the estimated time "
                       f"(over {BASELINE_SHARE_LIMIT:.0%}); eval_baseline=True runs it anyway")
    return True, (f"on: base model scored before, the result after (~{format_duration(seconds)}, "
                  f"{share:.1%} of the estimated time)")


def apply_args(script_args: list[str], changes: list[str]) -> list[str]:
    """`script_args` with each `--flag [value]` of `changes` set (replacing an earlier value), as diagnose does."""
    from hf_trainer.diagnose import set_arg

    out, i = list(script_args), 0
    while i < len(changes):
        flag = changes[i]
        value = changes[i + 1] if i + 1 < len(changes) and not changes[i + 1].startswith("--") else None
        out = set_arg(out, flag, value)
        i += 2 if value is not None else 1
    return out


Inspector = Callable[[Any], Any]
Estimator = Callable[[Any], Any]


def _default_inspector(params: Any) -> Any:
    return submit.inspector(params)  # the submit pipeline's hooks: one place for tests to stand the Hub in


def _default_estimator(request: Any) -> Any:
    return submit.estimator(request, None)


def _output_dir(req: TrainRequest, backend: BackendName) -> str | None:
    """Local runs save to an absolute folder the plan can name; Hub jobs save inside their container."""
    if backend != "local":
        return req.output_dir
    name = req.model_name_or_path.rstrip("/").split("/")[-1]
    # os.path.expanduser leaves an unknown ~user as it is (Path.expanduser raises).
    return str(Path(os.path.expanduser(req.output_dir or Path("outputs") / f"{name}-{req.method}")).resolve())


def _script_args(req: TrainRequest, mapping: str | None, backend: BackendName, run_name: str) -> list[str]:
    args = ["--model_name_or_path", req.model_name_or_path, "--dataset_name", req.dataset_name]
    output_dir = _output_dir(req, backend)
    if output_dir:
        args += ["--output_dir", output_dir]
    optional = {
        "--dataset_config": req.dataset_config, "--dataset_train_split": req.dataset_train_split,
        "--dataset_test_split": req.dataset_test_split, "--dataset_revision": req.dataset_revision,
        "--dataset_mapping": mapping, "--num_train_epochs": req.num_train_epochs, "--max_steps": req.max_steps,
        "--learning_rate": req.learning_rate, "--per_device_train_batch_size": req.per_device_train_batch_size,
        "--gradient_accumulation_steps": req.gradient_accumulation_steps, "--max_length": req.max_length,
        "--lora_r": req.lora_r,
    }
    for name, value in optional.items():
        if value is not None:
            args += [name, str(value)]
    if req.use_peft:
        args.append("--use_peft")
    if req.load_in_4bit:
        args.append("--load_in_4bit")
    if req.reward_funcs:
        args += ["--reward_funcs", *req.reward_funcs]
    if req.hub_model_id:
        args += ["--push_to_hub", "--hub_model_id", req.hub_model_id]
        if not req.hub_private_repo:
            args.append("--no-hub_private_repo")
    # The script checks a checkpoint's recorded fingerprint itself: 'auto' continues only the same run, so training
    # again into a repo with new data or another base model starts fresh instead of mixing the two.
    args += ["--resume", req.resume]
    args += ["--trackio_project", req.trackio_project, "--run_name", run_name, "--json", *req.extra_args]
    return args


def _label_value(text: str) -> str:
    """Job label values: letters, digits, '-', '_', '.' (a repo id's '/' becomes '--', as in Hub cache names)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text.replace("/", "--"))[:63]


def _refuse_unreadable_model(req: TrainRequest, backend: JobBackend) -> None:
    from hf_trainer.data_checks import force_note, job_token

    token = job_token(submit.token_secret(backend))
    errors = [f for f in submit.data_checker({"model_name_or_path": req.model_name_or_path}, token, req.method)
              if f.severity == "error"]
    if errors:
        raise UserError("Not planned: " + " ".join(f"{f.message} {f.fix}" for f in errors)
                        + f" Force does not override this ({', '.join(f.rule for f in errors)}); {force_note()}.")


def _with_data_and_repo(req: TrainRequest, source: Any, backend: JobBackend) -> tuple[TrainRequest, str, str | None]:
    """The request with the config, split and eval split inspection read (so the job reads the same rows, never a
    'train' split that is not there), the plan's words for them, and on the Hub the output repo: the one asked for,
    else `<you>/<model>-<method>` (output_repo.default_hub_model_id) with why."""
    # An inspector that says nothing of them (a stand-in) leaves the request's own. A config named 'default' is what
    # load_dataset reads without one: not passed (as Source.data_args), so the run's record matches earlier jobs'.
    read_config = getattr(source, "config", None) or req.dataset_config
    config = req.dataset_config or (read_config if read_config != "default" else None)
    split = getattr(source, "split", None) or req.dataset_train_split
    update = {"dataset_config": config, "dataset_train_split": split,
              "dataset_test_split": req.dataset_test_split or getattr(source, "eval_split", None)}
    words = [f"{name} {value}" for name, value in (("config", read_config), ("split", split),
                                                   ("eval split", update["dataset_test_split"]
                                                    or (split and "carved from it")),
                                                   ("revision", req.dataset_revision)) if value]
    note = None
    if backend.name == "hub":
        visibility = "private" if req.hub_private_repo else "public"
        if req.hub_model_id:
            note = visibility
        else:
            from hf_trainer.hub_client import get_hf_api
            from hf_trainer.output_repo import default_hub_model_id

            namespace = backend.namespace()  # type: ignore[attr-defined]
            repo, why = default_hub_model_id(getattr(backend, "api", None) or get_hf_api(), namespace,
                                             req.model_name_or_path, req.method, req.dataset_name, config, split)
            update["hub_model_id"] = repo
            note = f"{visibility}; {why}; pass hub_model_id to choose another"
    return req.model_copy(update=update), ", ".join(words), note


def plan_training(req: TrainRequest, backend: JobBackend, *, inspector: Inspector = _default_inspector,
                  estimator: Estimator = _default_estimator, now: Callable[[], float] = time.time) -> TrainPlan:
    """Inspect, estimate, pick the flavor, build the job and preflight it. Submits nothing."""
    from hf_trainer.dataset_inspect import DatasetInspectInput
    from hf_trainer.estimate import make_request

    backend_name: BackendName = backend.name
    warnings: list[str] = []
    if req.namespace and backend_name != "hub":
        raise UserError(f"namespace {req.namespace!r} only applies to Hugging Face Jobs (who pays for the job); the "
                        "local backend runs on this machine. Remove namespace, or use backend 'hub'.")
    if req.hub_model_id and not _REPO_ID.match(req.hub_model_id):
        raise UserError(f"hub_model_id {req.hub_model_id!r} is not a repo id: use 'owner/name' (letters, digits, "
                        "'-', '_', '.').")

    # The base model exists and the job's token can read it: said here, before the estimate fails on it with less
    # to say (the dataset is asked by inspection, and the whole job again by preflight, data_checks).
    _refuse_unreadable_model(req, backend)

    if req.dataset_mapping:
        from hf_trainer.runtime.mappings import MAPPINGS

        # Refused here, not in the job: an unknown name would fail only after the job started (and cost money).
        if req.dataset_mapping not in MAPPINGS:
            close = difflib.get_close_matches(req.dataset_mapping, list(MAPPINGS), n=1)
            raise UserError(f"dataset_mapping {req.dataset_mapping!r} is not a known mapping."
                            f"{f' Did you mean {close[0]!r}?' if close else ''} Known: {', '.join(MAPPINGS)}. Or "
                            "leave it out to use the one dataset_inspect picks.")

    # 1. The data: a verdict for the method, and a mapping that has been run on the sample when one is needed.
    try:
        inspection = inspector(DatasetInspectInput(
            dataset_name=req.dataset_name, dataset_config=req.dataset_config,
            dataset_train_split=req.dataset_train_split, dataset_revision=req.dataset_revision, method=req.method,
            model_name_or_path=req.model_name_or_path, max_length=req.max_length or 2048))
    except UserError as exc:
        if "tokenizer" not in str(exc).lower():
            raise
        warnings.append(f"token lengths not measured ({exc}); estimating with {FALLBACK_TOKENS_PER_ROW} "
                        "tokens per row")
        inspection = inspector(DatasetInspectInput(
            dataset_name=req.dataset_name, dataset_config=req.dataset_config,
            dataset_train_split=req.dataset_train_split, dataset_revision=req.dataset_revision, method=req.method))
    # The job reads exactly what inspection read: its config, split and the eval split beside it.
    req, data_read, repo_note = _with_data_and_repo(req, inspection.source, backend)
    # Rows with images train with the vision-language script (its --method picks SFT or DPO); inspection judged
    # them for that script.
    vision = getattr(inspection, "vision", None)
    script_name = VISION_SCRIPT if vision else METHOD_SCRIPTS[req.method]
    verdict = inspection.methods[req.method]
    mapping = req.dataset_mapping or (verdict.mapping if verdict.verdict == "NEEDS MAPPING" else None)

    # 2. The estimate, on the requested flavor or all of them.
    rows = inspection.source.num_rows or inspection.sample_rows
    stats = inspection.token_stats
    mean_tokens = stats.mean if stats and stats.mean else None
    if mean_tokens is None:
        mean_tokens = FALLBACK_TOKENS_PER_ROW
        if not any("token lengths" in w for w in warnings):
            warnings.append(f"token lengths not measured; estimating with {FALLBACK_TOKENS_PER_ROW} tokens per row")
    max_hours = parse_timeout(req.time_limit) / 3600 if req.time_limit else None

    def estimate_with(use_vllm: bool) -> Any:
        return estimator(make_request(
            model_name_or_path=req.model_name_or_path, method=req.method, num_rows=rows,
            mean_tokens_per_row=mean_tokens, max_steps=req.max_steps, num_train_epochs=req.num_train_epochs,
            max_length=req.max_length, per_device_train_batch_size=req.per_device_train_batch_size,
            gradient_accumulation_steps=req.gradient_accumulation_steps, use_peft=req.use_peft, lora_r=req.lora_r,
            load_in_4bit=req.load_in_4bit, push_to_hub=bool(req.hub_model_id), max_hours=max_hours,
            flavors=[req.flavor] if req.flavor and backend_name == "hub" else None, local=backend_name == "local",
            use_vllm=use_vllm or None))

    estimate = estimate_with(bool(req.use_vllm))
    use_vllm, generation_text, dependencies = vllm_choice(req, backend_name, estimate)
    if use_vllm and not req.use_vllm:
        estimate = estimate_with(True)  # the job that runs: flavor, hours and cost with vLLM's rollouts
    if use_vllm and not dependencies:  # asked for: the estimate prices it, the job still needs the package
        from hf_trainer.runtime.estimate_math import VLLM_REQUIREMENT

        dependencies = [VLLM_REQUIREMENT]
    warnings += [w for w in estimate.warnings if not (req.method == "grpo" and w.startswith("vLLM "))]

    if backend_name == "hub":
        flavor = req.flavor or estimate.recommended_flavor
        row = next((r for r in estimate.rows if r.flavor == flavor), None)
        if flavor is None or row is None:
            raise UserError("No flavor fits this run within the time limit"
                            + (f" ({req.time_limit})" if req.time_limit else "")
                            + ". Use LoRA (use_peft), a shorter max_length, fewer steps, or a longer time_limit.")
    else:
        flavor = None
        row = next((r for r in estimate.rows if r.flavor == "local"), None)
    hours = row.hours if row else None
    cost = row.cost_usd if row and backend_name == "hub" else (0.0 if backend_name == "local" else None)
    baseline, baseline_text = baseline_choice(req, script_name, row)
    if baseline and row is not None:
        # The baseline is part of the job: its time goes into the estimate, the cost and the timeout.
        hours = row.hours + row.baseline_eval_s / 3600
        if backend_name == "hub":
            cost = math.ceil(hours * 60) / 60 * row.price_per_hour
    # The benchmark job after training is part of the plan: priced on the same flavor, inside the budget.
    bench = benchmark_plan.plan_after_training(
        req.model_name_or_path, req.hub_model_id, req.benchmark_tasks, backend, flavor=flavor,
        labels={"model-repo": _label_value(req.hub_model_id or "")},
        num_params=getattr(getattr(estimate, "model", None), "num_params", None),
        active_params=getattr(getattr(estimate, "model", None), "num_active_params", None)) \
        if req.benchmark_tasks else None
    if bench is not None and cost is not None:
        cost += bench.estimated_cost_usd
    if req.max_cost_usd is not None and cost is not None and cost > req.max_cost_usd:
        cheaper = sorted((r for r in estimate.rows if r.verdict != "does not fit" and r.cost_usd <= req.max_cost_usd),
                         key=lambda r: r.cost_usd)
        hint = (f" Flavors within budget: {', '.join(f'{r.flavor} (${r.cost_usd:.2f}, {r.hours:.1f}h)' for r in cheaper[:3])}."
                if cheaper else " Reduce max_steps or epochs, or use LoRA, to bring it under the budget.")
        raise UserError(f"The plan costs about ${cost:.2f} on {flavor}, above max_cost_usd ${req.max_cost_usd:.2f}."
                        + hint)

    # 3. The job: bundled script + arguments; timeout = estimate + 25% (never below the asked time limit).
    if hours is not None:
        # Estimate + 25%, rounded up to the minute (never down: preflight holds the job to exactly that).
        timeout_seconds = job_timeout_seconds(hours * 3600)
    else:
        timeout_seconds = LOCAL_TIMEOUT_SECONDS
    if req.time_limit:
        timeout_seconds = max(timeout_seconds, parse_timeout(req.time_limit))
    run_name = req.run_name or default_run_name(req.model_name_or_path, req.dataset_name, req.method, now())
    script_args = _script_args(req, mapping, backend_name, run_name)
    if vision:
        script_args = ["--method", req.method, *script_args]
    if baseline and "--eval_baseline" not in script_args:
        # Before the person's extra_args, which stay last as given.
        script_args.insert(len(script_args) - len(req.extra_args), "--eval_baseline")
    if use_vllm and "--use_vllm" not in script_args:
        script_args.insert(len(script_args) - len(req.extra_args), "--use_vllm")
    script_path = paths.bundled_script(script_name)
    labels = {"hf-trainer": "train", "method": req.method, "trackio-run": run_name}
    if req.hub_model_id:
        labels["model-repo"] = _label_value(req.hub_model_id)
    if hours is not None:  # the plan's estimate travels with the job (jobs/records.py): retry sizes from it
        labels[ESTIMATE_LABEL] = str(round(hours * 3600))
    # The recommendation is the job that runs: the estimator's changes for this flavor are script flags, set here.
    changes = list(row.changes) if row is not None and row.verdict == "fits with changes" else []
    change_args = list(getattr(row, "script_args", None) or []) if changes else []
    script_args = apply_args(script_args, change_args)

    fits = None if row is None else row.verdict != "does not fit"
    if row is not None and changes and not change_args:
        # Changes the scripts cannot make are no fit: the job would run without them.
        fits = False
        warnings.append(f"{flavor} fits only with changes the scripts cannot make: {', '.join(changes)}")
    # The very request submit_plan sends (submit.training_request): the report approves only that job.
    follow_up = None
    if bench is not None:  # its own preflight; the training job carries it and sends it when it succeeds
        warnings += [f"benchmark job: {f.message}" for f in benchmark_plan.preflight(bench, backend).errors]
        follow_up = benchmark_plan.follow_up_env(bench, backend)
    report = submit.preflight_job(
        submit.training_request(script_name, script_args, backend, flavor=flavor, timeout_seconds=timeout_seconds,
                                labels=labels, dependencies=dependencies, env=follow_up,
                                namespace=req.namespace), backend_name,
        submit.Estimated(seconds=hours * 3600 if hours is not None else None, memory_fits=fits,
                         memory_detail=None if row is None else
                         f"needs {row.memory_gib:.1f} GiB, has {row.memory_available_gib:.0f} GiB",
                         dataset_verdict=verdict.verdict if not (verdict.verdict == "NEEDS MAPPING" and mapping)
                         else "READY", dataset_reasons=list(verdict.reasons), suggested_mapping=verdict.mapping))

    report = submit.with_budget(report, backend, flavor=flavor, timeout_seconds=timeout_seconds)  # what it leaves
    endpoint = _hub_endpoint(backend)
    return TrainPlan(
        method=req.method, backend=backend_name, namespace=req.namespace, script=script_path.name, script_args=script_args, flavor=flavor,
        price_per_hour=row.price_per_hour if row and backend_name == "hub" else (0.0 if backend_name == "local"
                                                                                else None),
        estimated_hours=hours, estimated_cost_usd=cost, timeout=format_duration(timeout_seconds),
        timeout_seconds=timeout_seconds, model_repo=req.hub_model_id, model_repo_note=repo_note, data_read=data_read,
        model_url=f"{endpoint}/{req.hub_model_id}" if req.hub_model_id else None, trackio_project=req.trackio_project,
        run_name=run_name,
        output_dir=_output_dir(req, backend_name),
        dataset_verdict=verdict.verdict, dataset_mapping=mapping, labels=labels, preflight=report, warnings=warnings,
        changes=changes, change_args=change_args, resume=req.resume, baseline=baseline_text,
        decisions=plan_decisions(changes, change_args, list(estimate.rows), flavor, cost),
        generation=generation_text, dependencies=dependencies, benchmark=bench)


def vllm_choice(req: TrainRequest, backend_name: BackendName, estimate: Any) -> tuple[bool, str, list[str]]:
    """GRPO: whether the job generates with vLLM, the plan's line saying why, and the packages it then installs.
    Asked for or refused by the person, that stands; otherwise vLLM runs on the Hub when the estimate (which prices
    both) says it pays."""
    if req.method != "grpo":
        return False, "", []
    choice = getattr(estimate, "vllm", None)
    why = choice.why if choice is not None else "the estimate did not price vLLM"
    if req.use_vllm is not None:
        asked = "on (asked for)" if req.use_vllm else "off (turned off): transformers' generate"
        return req.use_vllm, f"vLLM {asked}; {why}", list(choice.dependencies) if choice and req.use_vllm else []
    if backend_name != "hub":
        return False, "transformers' generate: vLLM is planned for Hub GPU jobs only (use_vllm=True to ask)", []
    if choice is not None and choice.use_vllm:
        return True, f"vLLM colocated: {why}", list(choice.dependencies)
    return False, f"transformers' generate: {why}", []


def _hub_endpoint(backend: JobBackend) -> str:
    api = getattr(backend, "api", None)
    return str(getattr(api, "endpoint", None) or "https://huggingface.co").rstrip("/")


def submit_plan(plan: TrainPlan, backend: JobBackend, *, force: bool = False) -> TrainPlan:
    """Submit a plan through the one submit pipeline (jobs/submit.py): refused while preflight has errors, unless
    forced; the card gets the job's link and flavor there."""
    job, _ = submit.submit_training(plan.script, plan.script_args, backend, flavor=plan.flavor,
                                    timeout_seconds=plan.timeout_seconds, labels=plan.labels, force=force,
                                    report=plan.preflight, dependencies=plan.dependencies,
                                    env=benchmark_plan.follow_up_env(plan.benchmark, backend) if plan.benchmark
                                    else None, namespace=plan.namespace)
    trackio_url = None
    if plan.backend == "hub" and job.owner:
        trackio_url = f"{_hub_endpoint(backend)}/spaces/{job.owner}/trackio"
    return plan.model_copy(update={"submitted": True, "job": job, "job_url": job.url, "trackio_url": trackio_url})


def train(req: TrainRequest, backend: JobBackend, *, inspector: Inspector = _default_inspector,
          estimator: Estimator = _default_estimator, smoke_poll_seconds: float = 30.0) -> TrainPlan:
    """Plan, and with `confirm` submit. The MCP tool and `hf-trainer train` call this."""
    from hf_trainer import smoke

    asked: list[Any] = []  # the estimates the plan was made from: the last one is the job it sends
    plan = plan_training(req, backend, inspector=inspector, estimator=smoke.recording(estimator, asked))
    if req.smoke:  # a one-step rehearsal first (smoke.py): planned and priced beside the full job
        plan = smoke.with_smoke(plan, req, backend, asked[-1], estimator)
    if not req.confirm:
        return plan
    if plan.smoke is not None:  # sent and waited for; anything but COMPLETED refuses the full job with its diagnosis
        plan = smoke.run_smoke(plan, backend, force=req.force, poll_interval=smoke_poll_seconds)
    return submit_plan(plan, backend, force=req.force)
