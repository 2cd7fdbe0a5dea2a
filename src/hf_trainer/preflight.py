"""preflight: lint a job before any money is spent on it.

It reads the script together with the job's arguments (script args, env, secrets, flavor, timeout, backend) and,
when the caller has them, the time/memory estimate and the dataset verdict. Each finding has a severity, what is
wrong, where (the script line when there is one) and the fix. A job with errors is refused by hf_jobs `uv`/`run`
and by `train` unless the caller forces it.

Pure functions over text and numbers: nothing here touches the network or imports torch.
"""

import ast
import os
import re
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from hf_trainer.budget import SpendCheck
from hf_trainer.bundled_scripts import TRAINING_SCRIPTS, bundled
from hf_trainer.errors import UserError
from hf_trainer.launch import gpus_for_flavor, sharding_problem
from hf_trainer.pep723 import read_metadata
from hf_trainer.redaction import TOKEN_SHAPE
from hf_trainer.runtime.vocabulary import TIMEOUT_BUFFER
from hf_trainer.timeouts import HUB_DEFAULT_TIMEOUT_SECONDS, format_duration
from hf_trainer.tokens import caller_token, looks_like_token

Severity = Literal["error", "warning"]

# HF Jobs stops a job after 30 minutes unless a timeout is given.
_PLACEHOLDER = re.compile(r"^\$\{?HF_TOKEN\}?$")

# Arguments that TRL 1.16 / transformers 5 removed or renamed: old name -> the fix.
RENAMED_ARGUMENTS = {
    "max_seq_length": "use max_length (renamed in TRL)",
    "evaluation_strategy": "use eval_strategy",
    "warmup_ratio": "use warmup_steps with a fraction below 1 (e.g. warmup_steps=0.03)",
    "max_prompt_length": "remove it: DPO, GRPO and KTO configs no longer take max_prompt_length; use max_length",
    "overwrite_output_dir": "remove it (gone in transformers 5)",
    "logging_dir": "remove it (gone in transformers 5; trackio/tensorboard pick their own folders)",
    "no_cuda": "use use_cpu=True",
    "use_mps_device": "remove it (the device is picked automatically)",
    "per_gpu_train_batch_size": "use per_device_train_batch_size",
    "per_gpu_eval_batch_size": "use per_device_eval_batch_size",
    "save_safetensors": "remove it (safetensors is always used)",
    "torch_dtype": "use dtype= in from_pretrained (torch_dtype is deprecated)",
}
# Trainer keyword arguments renamed in TRL: old keyword -> the fix.
RENAMED_KEYWORDS = {"tokenizer": "pass processing_class= instead of tokenizer= to the trainer"}
_TRAINERS = ("SFTTrainer", "DPOTrainer", "GRPOTrainer", "KTOTrainer", "RewardTrainer", "Trainer")
_DEPRECATED = {"gradient_checkpointing": "use activation_checkpointing (gradient_checkpointing is deprecated)"}
# Options whose values name places inside the job's own container, not inputs from this machine.
_OUTPUT_OPTIONS = {"--output_dir", "--run_name", "--hub_model_id", "--trackio_project", "--trackio_space_id"}
# Bundled scripts whose arguments preflight understands.
# The bundled training scripts (train_vlm.py included): their results rules are checked by name.
BUNDLED_TRAINING = frozenset(TRAINING_SCRIPTS)


class Finding(BaseModel):
    severity: Severity
    rule: str = Field(description="Stable rule id, e.g. 'results-lost'.")
    message: str
    line: int | None = Field(default=None, description="1-based line in the script, when the finding has one.")
    fix: str


class PreflightInput(BaseModel):
    """A job as it would be submitted, plus what is known about its cost and data."""

    script_text: str
    script_name: str = "script.py"
    script_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="Secret names -> values or placeholders.")
    backend: Literal["hub", "local"] = "hub"
    flavor: str | None = None
    timeout_seconds: int | None = None
    estimated_seconds: float | None = Field(default=None, ge=0, description="Estimated run time (estimate_cost).")
    memory_fits: bool | None = Field(default=None, description="Whether the model fits the flavor (estimate_cost).")
    memory_detail: str | None = None
    dataset_verdict: Literal["READY", "NEEDS MAPPING", "INCOMPATIBLE"] | None = None
    dataset_reasons: list[str] = Field(default_factory=list)
    suggested_mapping: str | None = None


class PreflightReport(BaseModel):
    ok: bool = Field(description="True when there is no error (warnings allowed).")
    findings: list[Finding]
    checked: dict[str, object] | None = Field(default=None, description="The job this report describes (script, "
                                              "arguments, flavor, timeout, env and secret names, backend): a report "
                                              "is reused to submit only that job.")
    budget: SpendCheck | None = Field(default=None, description="The spend budget against this job: spent, "
                                      "committed, its worst case and what it leaves (None: no budget, or local).")

    @property
    def budget_line(self) -> str | None:
        return f"budget: {self.budget.render()}" if self.budget is not None else None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def render(self) -> str:
        if self.budget_line:
            return f"{self._findings_text()}\n{self.budget_line}"
        return self._findings_text()

    def _findings_text(self) -> str:
        if not self.findings:
            return "preflight: clean - no problems found."
        head = (f"preflight: {len(self.errors)} error(s), {len(self.findings) - len(self.errors)} warning(s)"
                + ("" if self.ok else " - the job would be refused (fix them, or pass force: true)"))
        lines = [head]
        for f in self.findings:
            where = f" (line {f.line})" if f.line else ""
            lines.append(f"- {f.severity.upper()} [{f.rule}]{where}: {f.message} Fix: {f.fix}")
        return "\n".join(lines)


def _arg_value(args: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in a script's arguments."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _line_of(text: str, pattern: re.Pattern[str] | str) -> int | None:
    match = re.search(pattern, text) if isinstance(pattern, str) else pattern.search(text)
    return text[: match.start()].count("\n") + 1 if match else None


def _calls(tree: ast.AST | None) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)] if tree else []


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _keywords(tree: ast.AST | None) -> list[ast.keyword]:
    return [kw for call in _calls(tree) for kw in call.keywords if kw.arg]


def _is_training_script(name: str, text: str) -> bool:
    return name in BUNDLED_TRAINING or bool(re.search(r"\b(" + "|".join(_TRAINERS) + r")\s*\(", text))


def check_header(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    try:
        metadata = read_metadata(job.script_text, job.script_name)
    except UserError as exc:
        return [Finding(severity="error", rule="pep723-header", message=str(exc),
                        line=_line_of(job.script_text, r"(?m)^# /// script"),
                        fix="Close the block with '# ///' and keep valid TOML between the markers.")]
    if metadata is None:
        third_party = sorted(_third_party_imports(tree))
        if not third_party:
            return []  # a standard-library script needs no header
        return [Finding(severity="error", rule="pep723-header",
                        message=f"{job.script_name} imports {', '.join(third_party)} but has no PEP 723 header, so "
                                "the job's container will not install them.",
                        fix="Add '# /// script' ... 'dependencies = [\"trl>=1.16\", ...]' ... '# ///' at the top.")]
    return []


def _third_party_imports(tree: ast.AST | None) -> set[str]:
    """Top-level packages a script imports that are not in the standard library."""
    names: set[str] = set()
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "__future__"}


def check_results_kept(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """A training job on the Hub whose results are not pushed is lost when the container stops."""
    if job.backend != "hub" or not _is_training_script(job.script_name, job.script_text):
        return []
    bundled = job.script_name in BUNDLED_TRAINING
    if bundled:
        pushes = "--push_to_hub" in job.script_args
        repo = _arg_value(job.script_args, "--hub_model_id")
    else:
        pushes = bool(re.search(r"push_to_hub\s*=\s*True|\.push_to_hub\(|upload_folder\(|upload_file\(",
                                job.script_text))
        repo = "given" if re.search(r"hub_model_id\s*=|repo_id\s*=|\.push_to_hub\(\s*['\"]", job.script_text) else None
    findings = []
    if not pushes:
        findings.append(Finding(
            severity="error", rule="results-lost",
            message="The job trains but never pushes to the Hub: the model is lost when the job's container stops.",
            fix="Pass --push_to_hub --hub_model_id <you>/<model> (bundled scripts) or set push_to_hub=True and "
                "hub_model_id in the config."))
    elif not repo:
        findings.append(Finding(severity="error", rule="results-lost",
                                message="The job pushes to the Hub but names no repository.",
                                fix="Pass --hub_model_id <you>/<model>."))
    if pushes and "HF_TOKEN" not in job.secrets:
        findings.append(Finding(
            severity="error", rule="push-without-token",
            message="The job pushes to the Hub but has no HF_TOKEN secret, so the push fails after training.",
            fix='Add secrets {"HF_TOKEN": "$HF_TOKEN"} (the caller\'s token, sent as a secret).'))
    return findings


def _token_line(text: str, token: str | None) -> int | None:
    """The 1-based line of the first token in `text` (the caller's, or any Hugging Face token), else None."""
    starts = [m.start() for m in (TOKEN_SHAPE.search(text),) if m] + ([text.find(token)] if token and token in text
                                                                       else [])
    return text[: min(starts)].count("\n") + 1 if starts else None


def check_literal_tokens(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """The token rule (tokens.looks_like_token: the caller's token or any hf_ token, glued to other characters too)
    over the script, its arguments and env; the submit pipeline applies the same rule to every other field."""
    token = caller_token()
    findings = []
    line = _token_line(job.script_text, token)
    if line:
        findings.append(Finding(severity="error", rule="literal-token", line=line,
                                message="The script contains a literal Hugging Face token.",
                                fix="Remove it; read os.environ['HF_TOKEN'] and pass the token as a job secret."))
    values = {**{f"env {k!r}": v for k, v in job.env.items() if not _PLACEHOLDER.match(v.strip())},
              **{f"arg {i}": a for i, a in enumerate(job.script_args)}}
    names = [f"env name {i}" for i, k in enumerate(job.env) if looks_like_token(k, token)]
    names += [f"secret name {i}" for i, k in enumerate(job.secrets) if looks_like_token(k, token)]
    for name in [*(n for n, v in values.items() if looks_like_token(v, token)), *names]:
        findings.append(Finding(severity="error", rule="literal-token",
                                message=f"{name} holds a literal Hugging Face token; env and arguments are "
                                        "visible in the job's page and logs.",
                                fix='Pass it as a secret instead: secrets {"HF_TOKEN": "$HF_TOKEN"}.'))
    return findings


def check_renamed_arguments(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    findings = []
    names_in_args = {a.removeprefix("--").split("=", 1)[0] for a in job.script_args if a.startswith("--")}
    keywords = _keywords(tree)
    for old, fix in {**RENAMED_ARGUMENTS, **_DEPRECATED}.items():
        severity: Severity = "warning" if old in _DEPRECATED else "error"
        used = [kw for kw in keywords if kw.arg == old]
        if used:
            findings.append(Finding(severity=severity, rule="renamed-argument", line=used[0].value.lineno,
                                    message=f"`{old}=` is not accepted by TRL 1.16 / transformers 5.", fix=fix))
        elif old in names_in_args and job.script_name not in BUNDLED_TRAINING:
            findings.append(Finding(severity=severity, rule="renamed-argument",
                                    message=f"`--{old}` is not accepted by TRL 1.16 / transformers 5.", fix=fix))
    for call in _calls(tree):
        if _call_name(call) in _TRAINERS:
            for kw in call.keywords:
                if kw.arg in RENAMED_KEYWORDS:
                    findings.append(Finding(severity="error", rule="renamed-argument", line=kw.value.lineno,
                                            message=f"`{kw.arg}=` is not accepted by {_call_name(call)} in TRL 1.16.",
                                            fix=RENAMED_KEYWORDS[kw.arg]))
    return findings


def check_eval_data(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """Evaluation switched on with nothing to evaluate fails at the first eval step."""
    if job.script_name in BUNDLED_TRAINING:
        return []  # the bundled scripts carve an eval split or switch evaluation off themselves
    asks = [kw for kw in _keywords(tree) if kw.arg == "eval_strategy"
            and not (isinstance(kw.value, ast.Constant) and kw.value.value == "no")]
    has_data = any(kw.arg == "eval_dataset" for kw in _keywords(tree))
    if asks and not has_data:
        return [Finding(severity="error", rule="eval-without-data", line=asks[0].value.lineno,
                        message="eval_strategy asks for evaluation but no eval_dataset is passed to the trainer.",
                        fix="Pass eval_dataset= (e.g. dataset.train_test_split(test_size=0.05)) or set "
                            "eval_strategy='no'.")]
    return []


def check_grpo_rewards(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    entry = bundled(job.script_name)
    if entry is not None and entry.needs_rewards:
        if not any(a.startswith(("--reward_funcs", "--reward_funcs_file")) for a in job.script_args):
            return [Finding(severity="error", rule="grpo-without-reward",
                            message="GRPO needs a reward and none is given.",
                            fix="Pass --reward_funcs accuracy format (built-in) or --reward_funcs_file rewards.py.")]
        return []
    for call in _calls(tree):
        if _call_name(call) == "GRPOTrainer" and not any(kw.arg == "reward_funcs" for kw in call.keywords):
            return [Finding(severity="error", rule="grpo-without-reward", line=call.lineno,
                            message="GRPOTrainer is created without reward_funcs; TRL 1.16 refuses to start.",
                            fix="Pass reward_funcs=[...] (python functions, or a reward model id).")]
    return []


def check_local_paths(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """Paths on this machine mean nothing inside a Hub job's container."""
    if job.backend != "hub":
        return []
    findings = []
    for i, arg in enumerate(job.script_args):
        option, value = (arg.split("=", 1) if "=" in arg else (arg, None)) if arg.startswith("--") else \
            (job.script_args[i - 1] if i and job.script_args[i - 1].startswith("--") else f"argument {i + 1}", arg)
        if value is None or option in _OUTPUT_OPTIONS:
            continue
        if value.startswith(("./", "../", "~/", "/Users/", "/home/")) or Path(os.path.expanduser(value)).exists():
            findings.append(Finding(
                severity="error", rule="local-path",
                message=f"{option} {value!r} is a path on this machine; the job's container cannot see it.",
                fix="Upload it to the Hub first (e.g. `hf upload <you>/<dataset> <file> --repo-type dataset`) and "
                    "pass the repo id, or run with the local backend."))
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.match(r"^(/Users/|/home/|~/|[A-Z]:\\)", node.value):
            findings.append(Finding(severity="warning", rule="local-path", line=node.lineno,
                                    message=f"The script names the local path {node.value!r}, which a Hub job "
                                            "cannot see.",
                                    fix="Load the file from the Hub, or pass it as an argument."))
    return findings


def check_timeout(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    if job.estimated_seconds is None:
        return []
    timeout = job.timeout_seconds or (HUB_DEFAULT_TIMEOUT_SECONDS if job.backend == "hub" else None)
    if timeout is None:
        return []
    needed = job.estimated_seconds * TIMEOUT_BUFFER
    if timeout < needed:
        default = " (HF Jobs' default)" if not job.timeout_seconds else ""
        return [Finding(severity="error", rule="timeout-too-short",
                        message=f"The timeout {format_duration(timeout)}{default} is shorter than the estimated "
                                f"{format_duration(job.estimated_seconds)} plus a 25% buffer: the job would be killed "
                                "before it finishes.",
                        fix=f"Set timeout to at least {format_duration(needed)} (e.g. '{max(1, round(needed / 60))}m').")]
    return []


def check_memory(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    if job.memory_fits is False:
        return [Finding(severity="error", rule="does-not-fit",
                        message=f"The model does not fit {job.flavor or 'the flavor'}'s memory"
                                + (f": {job.memory_detail}" if job.memory_detail else "."),
                        fix="Use LoRA (--use_peft), a smaller batch with more accumulation, activation "
                            "checkpointing, or a flavor with more GPU memory (see estimate_cost).")]
    return []


def check_dataset(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    reasons = "; ".join(job.dataset_reasons)
    if job.dataset_verdict == "INCOMPATIBLE":
        return [Finding(severity="error", rule="dataset-not-ready",
                        message=f"The dataset does not fit the method{': ' + reasons if reasons else '.'}",
                        fix="Pick the method that matches the data, or another dataset (see dataset_inspect).")]
    if job.dataset_verdict == "NEEDS MAPPING" and _arg_value(job.script_args, "--dataset_mapping") is None:
        mapping = job.suggested_mapping
        return [Finding(severity="error", rule="dataset-not-ready",
                        message=f"The dataset needs a mapping for this method{': ' + reasons if reasons else '.'}",
                        fix=f"Pass --dataset_mapping {mapping}." if mapping else
                            "Run dataset_inspect and pass the --dataset_mapping it returns.")]
    return []


def check_sharding(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """--fsdp on a Hub flavor with fewer than two GPUs: the script would refuse at start, after the job was paid."""
    if job.backend != "hub" or not job.flavor:
        return []
    problem = sharding_problem(job.script_args, gpus_for_flavor(job.flavor))
    if not problem:
        return []
    return [Finding(severity="error", rule="fsdp-one-gpu", message=f"{job.flavor}: {problem.split('. ')[0]}.",
                    fix=problem.split(". ", 1)[1] if ". " in problem else "Drop --fsdp.")]


def check_precision(job: PreflightInput, tree: ast.AST | None) -> list[Finding]:
    """A bundled training script's --precision that the flavor cannot run (runtime/precision.py: bf16 forced on an
    fp16-only GPU such as the T4, fp16 on a CPU flavor): the script would refuse it at start, after the job was paid."""
    from hf_trainer.runtime.estimate_math import fallback_catalog
    from hf_trainer.runtime.precision import PrecisionError, resolve

    value = _arg_value(job.script_args, "--precision")
    if job.backend != "hub" or not job.flavor or not value or job.script_name not in BUNDLED_TRAINING:
        return []
    flavor = fallback_catalog().get(job.flavor)
    spec = flavor.spec if flavor else None
    if gpus_for_flavor(job.flavor) == 0:
        kind = "cpu"
    elif spec is not None:
        kind = "cuda-bf16" if spec.bf16 else "cuda-fp16"
    else:
        kind = "cuda-fp16" if job.flavor.startswith("t4") else "cuda-bf16"
    try:
        resolve(kind, value)
    except PrecisionError as exc:
        return [Finding(severity="error", rule="precision-unsupported", message=f"{job.flavor}: {exc.fact}",
                        fix=exc.fix or "Use --precision auto (the scripts' policy for the flavor).")]
    return []


RULES = [check_header, check_results_kept, check_literal_tokens, check_renamed_arguments, check_eval_data,
         check_grpo_rewards, check_local_paths, check_timeout, check_memory, check_dataset, check_sharding,
         check_precision]


def preflight(job: PreflightInput) -> PreflightReport:
    """Run every rule; the report is ok when no finding is an error."""
    try:
        tree = ast.parse(job.script_text)
    except SyntaxError as exc:
        finding = Finding(severity="error", rule="syntax", line=exc.lineno,
                          message=f"{job.script_name} is not valid Python: {exc.msg}.", fix="Fix the syntax error.")
        return PreflightReport(ok=False, findings=[finding, *check_header(job, None),
                                                   *check_literal_tokens(job, None)])
    except (RecursionError, MemoryError, ValueError) as exc:  # nested too deep to parse; a NUL byte (3.11)
        reason = "holds a NUL byte" if isinstance(exc, ValueError) else "is nested too deeply for Python's parser"
        finding = Finding(severity="error", rule="syntax", message=f"{job.script_name} {reason}.",
                          fix="Simplify the script (split long expressions into several statements).")
        return PreflightReport(ok=False, findings=[finding, *check_literal_tokens(job, None)])
    findings = [finding for rule in RULES for finding in rule(job, tree)]
    return PreflightReport(ok=not any(f.severity == "error" for f in findings), findings=findings)
