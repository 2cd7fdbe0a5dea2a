"""diagnose: name why a job failed and the smallest change that fixes it, one change at a time.

Input: the job's stage and message, its log lines, and how it was submitted (script, script args, flavor, the
timeout it really had: jobs/records.py reads them from the job's labels and command). Output: the failure kind, the
log line that shows it, an explanation, and one change, already applied to the arguments (the argument to add, for
a wrong split or config), so retry can resubmit it. Pure functions over text; no network. retry.py sizes memory and
time changes with the estimator and submits.
"""

import math
import re
from typing import Literal

from pydantic import BaseModel, Field

from hf_trainer.jobs.base import JobBackend, Stage
from hf_trainer.jobs.records import read_record, script_args_from_command
from hf_trainer.untrusted import quoted

__all__ = ["Change", "Diagnosis", "FailureKind", "diagnose", "diagnose_job", "get_arg", "has_flag", "remove_flag",
           "script_args_from_command", "set_arg"]

FailureKind = Literal[
    "out_of_memory", "timeout", "unauthorized", "forbidden", "gated_repo", "repo_not_found", "dataset_split",
    "dataset_config", "revision_not_found", "dataset_format", "no_cuda", "nan_loss", "diverging",
    "zero_reward_variance", "stalled", "flat_loss", "hub_push_failure", "dependency_resolution", "canceled",
    "completed", "unknown",
]

# Larger flavors to move to when memory runs out, smallest first (GPU memory in GB).
FLAVOR_LADDER = ["t4-small", "l4x1", "a10g-large", "l40sx1", "a100-large", "h200"]
FLAVOR_UPGRADES = {"t4-small": "l4x1", "t4-medium": "l4x1", "l4x1": "a10g-large", "a10g-small": "a10g-large",
                   "a10g-large": "l40sx1", "l40sx1": "a100-large", "a100-large": "h200",
                   "rtx-pro-6000": "h200", "cpu-basic": "t4-small", "cpu-upgrade": "t4-small"}

# The line the training scripts print when they stop a run early (runtime/early_stop.py writes it).
EARLY_STOP = re.compile(r"hf-trainer stopped early \[(?P<reason>[a-z_]+)\]")
EARLY_STOP_KINDS: dict[str, "FailureKind"] = {"nan_loss": "nan_loss", "diverging": "diverging",
                                              "zero_reward_variance": "zero_reward_variance", "stalled": "stalled"}

# Patterns per failure kind, checked in this order (the first that matches wins). Gated and missing repos come before
# 401/403: the Hub answers them with those codes, and the fix differs.
_PATTERNS: list[tuple["FailureKind", re.Pattern[str]]] = [
    ("out_of_memory", re.compile(r"CUDA out of memory|OutOfMemoryError|torch\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED"
                                 r"|Killed process .* \(python|MemoryError", re.I)),
    ("no_cuda", re.compile(r"needs a CUDA GPU|no CUDA GPUs are available|Torch not compiled with CUDA|"
                           r"Found no NVIDIA driver|CUDA driver version is insufficient|requires a CUDA GPU", re.I)),
    ("dependency_resolution", re.compile(r"No solution found when resolving (script )?dependencies|"
                                         r"ResolutionImpossible|ModuleNotFoundError: No module named|"
                                         r"Because .* depends on .* we can conclude", re.I)),
    ("gated_repo", re.compile(r"GatedRepoError|Cannot access gated repo|is a gated (model|dataset|repo)|"
                              r"Access to (model|dataset) \S+ is restricted", re.I)),
    ("revision_not_found", re.compile(r"RevisionNotFoundError|Revision Not Found for url|Invalid rev id", re.I)),
    ("repo_not_found", re.compile(r"RepositoryNotFoundError|Repository Not Found for url|DatasetNotFoundError|"
                                  r"Dataset '[^']+' doesn't exist on the Hub|is not a valid model identifier", re.I)),
    ("unauthorized", re.compile(r"\b401\b.*(Unauthorized|Client Error)|Invalid user token|"
                                r"Invalid credentials in Authorization header", re.I)),
    ("forbidden", re.compile(r"\b403\b.*(Forbidden|Client Error)|You don't have the rights|"
                             r"does not have write access|not authorized to (create|push)", re.I)),
    ("hub_push_failure", re.compile(r"Failed to push|push_to_hub.*(failed|error)|upload_folder.*(failed|Error)|"
                                    r"Error while uploading|HfHubHTTPError.*(upload|commit|preupload)", re.I)),
    ("dataset_split", re.compile(r"Split '[^']*' not found|Unknown split \"[^\"]*\"", re.I)),
    ("dataset_config", re.compile(r"Config name is missing|BuilderConfig '[^']*' not found|"
                                  r"--dataset_config '[^']*' is not one of", re.I)),
    ("nan_loss", re.compile(r"training diverged: (loss|grad_norm) is", re.I)),
    ("dataset_format", re.compile(r"no usable columns|KeyError: '(messages|text|prompt|completion|chosen|rejected|"
                                  r"label)'|DatasetGenerationError|"
                                  r"The dataset has no usable columns|ArrowInvalid|"
                                  r"needs conversational data|dataset is not conversational", re.I)),
]
_LOSS = re.compile(r"'loss': '?([0-9.eE+-]+|nan|inf)'?")
_TIMEOUT_MESSAGE = re.compile(r"timed? ?out|timeout", re.I)
# Lists of names in error messages: "the dataset has: a, b." and "['a', 'b']".
_HAS_LIST = re.compile(r"the dataset has: ([^.]+)\.")
_PY_LIST = re.compile(r"\[((?:'[^']*'(?:, )?)+)\]")
_REPO_IN_MESSAGE = re.compile(r"(?:Dataset|Repository|repo|model|dataset)[ :]+'?(?P<repo>[\w.-]+/[\w.-]+)'?", re.I)
_METHOD_OF_SCRIPT = {"train_sft.py": "sft", "train_sft_unsloth.py": "sft", "train_dpo.py": "dpo",
                     "train_grpo.py": "grpo", "train_reward.py": "reward", "train_kto.py": "kto", "train_vlm.py": "sft"}
# Methods' own split names (the rule of runtime/splits.py: a method reads train_<use>, else train, else train*).
_SPLIT_USES = {"sft": ("sft",), "dpo": ("prefs",), "reward": ("prefs",), "kto": ("prefs",), "grpo": ("gen", "prompts")}
# Script flags naming a revision (none of the bundled scripts take one today; a job's own script may).
_REVISION_FLAGS = ("--revision", "--model_revision", "--dataset_revision")


class Change(BaseModel):
    """One change to the job, applied: resubmit with these arguments."""

    description: str
    script_args: list[str] = Field(description="The script's arguments with the change applied.")
    flavor: str | None = None
    timeout_seconds: int | None = None


class Diagnosis(BaseModel):
    kind: FailureKind
    summary: str
    evidence: str | None = Field(default=None, description="The log line that shows the failure.")
    change: Change | None = Field(default=None, description="The smallest change that fixes it, or None.")
    next_steps: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"diagnosis: {self.kind} - {self.summary}"]
        if self.evidence:  # a log line or the Hub's message: quoted on one line, never read as our own words
            lines.append(f"  evidence: {quoted(self.evidence)}")
        if self.change:
            lines.append(f"  fix: {self.change.description}")
        lines += [f"  then: {step}" for step in self.next_steps]
        return "\n".join(lines)


# --- argument edits -----------------------------------------------------------------------------------------------

def get_arg(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args) and not args[i + 1].startswith("--"):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def has_flag(args: list[str], name: str) -> bool:
    return name in args


def set_arg(args: list[str], name: str, value: str | None) -> list[str]:
    """`args` with `--name value` set (value None: a bare flag), replacing any earlier value."""
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == name:
            skip = i + 1 < len(args) and not args[i + 1].startswith("--")
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out + ([name] if value is None else [name, value])


def remove_flag(args: list[str], name: str) -> list[str]:
    return [a for a in args if a != name]


# --- the fixes ----------------------------------------------------------------------------------------------------

def _oom_change(args: list[str], flavor: str | None) -> tuple[Change | None, list[str]]:
    """Halve the batch and double accumulation; then activation checkpointing; then LoRA; then a bigger flavor."""
    given = get_arg(args, "--per_device_train_batch_size")
    accumulation = int(get_arg(args, "--gradient_accumulation_steps") or 4)
    bigger = FLAVOR_UPGRADES.get(flavor or "")
    later = [f"move to {bigger or 'a flavor with more GPU memory'}"]
    if given is None:
        # The scripts pick the batch themselves (1 or 4 rows): pin the smallest, keeping the effective batch.
        new = set_arg(set_arg(args, "--per_device_train_batch_size", "1"),
                      "--gradient_accumulation_steps", str(accumulation * 4))
        return Change(description=f"set the batch to 1 row and gradient accumulation to {accumulation * 4}: the "
                                  "same effective batch, the least activation memory", script_args=new,
                      flavor=flavor), later
    batch = int(given)
    if batch > 1:
        new = set_arg(set_arg(args, "--per_device_train_batch_size", str(batch // 2)),
                      "--gradient_accumulation_steps", str(accumulation * 2))
        return Change(description=f"halve the batch ({batch} -> {batch // 2}) and double gradient accumulation "
                                  f"({accumulation} -> {accumulation * 2}): same effective batch, less memory",
                      script_args=new, flavor=flavor), later
    if has_flag(args, "--no-activation_checkpointing"):
        # Checkpointing is the scripts' GPU default; only an explicit opt-out leaves something to turn on.
        new = set_arg(remove_flag(args, "--no-activation_checkpointing"), "--activation_checkpointing", None)
        return Change(description="turn activation checkpointing back on (recompute activations instead of storing "
                                  "them)", script_args=new, flavor=flavor), later
    if not has_flag(args, "--use_peft"):
        return Change(description="train a LoRA adapter instead of all weights (--use_peft): no gradients or "
                                  "optimizer state for the base model", script_args=set_arg(args, "--use_peft", None),
                      flavor=flavor), later
    if bigger:
        return Change(description=f"move from {flavor} to {bigger} (more GPU memory)", script_args=list(args),
                      flavor=bigger), []
    return None, ["use a smaller model or a shorter --max_length"]


def _loss_values(lines: list[str]) -> list[float]:
    values = []
    for line in lines:
        match = _LOSS.search(line)
        if match:
            values.append(float(match.group(1)))
    return values


def _names_in(text: str) -> list[str]:
    """The names an error message lists ("the dataset has: a, b." or "['a', 'b']"), in order."""
    found = _HAS_LIST.search(text)
    if found:
        return [name.strip() for name in found.group(1).split(",") if name.strip()]
    found = _PY_LIST.search(text)
    return re.findall(r"'([^']*)'", found.group(1)) if found else []


def method_split(names: list[str], method: str | None) -> str | None:
    """The split `method` trains on among `names`: train_<use> (train_prefs for DPO), else train, else train*."""
    lowered = {name.lower(): name for name in names}
    for use in _SPLIT_USES.get(method or "", ()):
        if f"train_{use}" in lowered:
            return lowered[f"train_{use}"]
    if "train" in names:
        return "train"
    return next((name for name in names if name.lower().startswith("train")), names[0] if names else None)


def diagnose(stage: Stage, message: str | None, log_lines: list[str], script_args: list[str] | None = None,
             flavor: str | None = None, timeout_seconds: int | None = None, *, script: str | None = None,
             secret_names: list[str] | None = None) -> Diagnosis:
    """Classify a job's outcome from its stage, message and logs, and propose one change.

    `timeout_seconds` is the timeout the job was submitted with (None: not known); `script` the file it ran (for the
    method's split); `secret_names` the secrets it carried (a gated repo needs HF_TOKEN)."""
    args = list(script_args or [])
    text_lines = [line.rstrip("\n") for line in log_lines]
    context = _Context(args, flavor, timeout_seconds, script, list(secret_names or []), text_lines)

    if stage == Stage.CANCELED:
        return Diagnosis(kind="canceled", summary="The job was canceled; nothing failed.")

    # The scripts name an early stop themselves: that line is the cause, whatever came after it.
    stopped = next((line for line in reversed(text_lines) if EARLY_STOP.search(line)), None)
    if stopped is not None:
        reason = EARLY_STOP.search(stopped).group("reason")  # type: ignore[union-attr]
        if reason in EARLY_STOP_KINDS:
            return _explain(EARLY_STOP_KINDS[reason], stopped.strip()[:300], context)

    for kind, pattern in _PATTERNS:
        evidence = next((line for line in reversed(text_lines) if pattern.search(line)), None)
        if evidence is not None and stage != Stage.COMPLETED:
            return _explain(kind, evidence.strip()[:300], context)

    losses = _loss_values(text_lines)
    if any(not math.isfinite(v) for v in losses):
        evidence = next(line for line in text_lines if (match := _LOSS.search(line)) and
                        not math.isfinite(float(match.group(1))))
        return _explain("nan_loss", evidence.strip()[:300], context)
    if len(losses) >= 5 and max(losses) - min(losses) < 1e-3 * max(1.0, abs(losses[0])):
        return _explain("flat_loss", f"loss stayed at {losses[0]:.4f} for {len(losses)} logged steps", context)

    if stage == Stage.ERROR and message and _TIMEOUT_MESSAGE.search(message):
        return _explain("timeout", message, context)
    if stage == Stage.COMPLETED:
        return Diagnosis(kind="completed", summary="The job completed; its loss moved normally.")
    if stage == Stage.ERROR:
        tail = next((line.strip() for line in reversed(text_lines) if line.strip()), message or "")
        reason = quoted(message) if message else "no message"
        return Diagnosis(kind="unknown", summary=f"The job failed for a reason not in the table: {reason}.",
                         evidence=tail[:300] or None,
                         next_steps=["read the full log (hf_jobs logs)", "rerun the configuration with --smoke "
                                     "locally or on a small flavor"])
    return Diagnosis(kind="unknown", summary=f"The job is {stage.value}; diagnose it once it has ended.")


class _Context:
    """What `_explain` needs besides the kind and the evidence."""

    def __init__(self, args: list[str], flavor: str | None, timeout_seconds: int | None, script: str | None,
                 secret_names: list[str], lines: list[str]) -> None:
        self.args, self.flavor, self.timeout_seconds = args, flavor, timeout_seconds
        self.script, self.secret_names, self.lines = script, secret_names, lines

    def change(self, description: str, script_args: list[str], **update: object) -> Change:
        values = {"flavor": self.flavor, "timeout_seconds": self.timeout_seconds, **update}
        return Change(description=description, script_args=script_args, **values)  # type: ignore[arg-type]

    def repo_named(self, evidence: str) -> tuple[str | None, str | None]:
        """(the repo the error names, the script flag that passed it), as far as the log tells."""
        match = _REPO_IN_MESSAGE.search(evidence)
        repo = match.group("repo") if match else None
        for flag in ("--dataset_name", "--model_name_or_path", "--hub_model_id"):
            value = get_arg(self.args, flag)
            if value and (repo is None or value == repo or repo.endswith("/" + value.split("/")[-1])):
                if repo is None and value not in evidence:
                    continue
                return value, flag
        return repo, None


def _lr(args: list[str]) -> float:
    return float(get_arg(args, "--learning_rate") or (2e-4 if has_flag(args, "--use_peft") else 2e-5))


def _explain(kind: FailureKind, evidence: str, c: _Context) -> Diagnosis:
    args, flavor, timeout_seconds = c.args, c.flavor, c.timeout_seconds
    resume = set_arg(args, "--resume", "auto")
    if kind == "out_of_memory":
        change, later = _oom_change(args, flavor)
        return Diagnosis(kind=kind, summary="The GPU ran out of memory.", evidence=evidence, change=change,
                         next_steps=later)
    if kind == "timeout":
        if timeout_seconds is None:
            return Diagnosis(kind=kind, summary="The job hit its timeout before finishing; the timeout it was "
                                                "submitted with is not recorded.", evidence=evidence,
                             change=c.change("resume from the last pushed checkpoint of the same run "
                                             "(--resume auto) with a timeout sized from the estimate", resume),
                             next_steps=["retry sizes the timeout with the estimator; or pass --timeout"])
        new = int(timeout_seconds * 2)
        return Diagnosis(kind=kind, summary=f"The job hit its timeout ({timeout_seconds}s) before finishing.",
                         evidence=evidence,
                         change=c.change(f"double the timeout ({timeout_seconds}s -> {new}s) and resume from the "
                                         "last pushed checkpoint of the same run (--resume auto)", resume,
                                         timeout_seconds=new),
                         next_steps=["retry sizes the new timeout from the work left (estimate from the "
                                     "checkpoint's step)", "or move to a faster flavor (see estimate_cost)"])
    if kind == "unauthorized":
        return Diagnosis(kind=kind, summary="The Hub refused the token (401): it is missing, expired or invalid.",
                         evidence=evidence, next_steps=[
                             "run 'hf auth login' (or set HF_TOKEN) and pass secrets {\"HF_TOKEN\": \"$HF_TOKEN\"}"])
    if kind == "forbidden":
        return Diagnosis(kind=kind, summary="The token may not write there (403): it is read-only, or the repo "
                                            "belongs to an organisation it has no write access to.",
                         evidence=evidence, next_steps=[
                             "create a token with write access at https://huggingface.co/settings/tokens",
                             "or push to a repo in your own namespace (--hub_model_id <you>/<name>)"])
    if kind == "gated_repo":
        repo, flag = c.repo_named(evidence)
        where = f"https://huggingface.co/{repo}" if repo else "the repo's page on the Hub"
        steps = [f"accept the repo's terms at {where} with the account of your token (approval can take a while "
                 "for some repos), then retry", "or choose an ungated repo" + (f" for {flag}" if flag else "")]
        if "HF_TOKEN" not in c.secret_names:
            return Diagnosis(kind=kind, summary=f"{repo or 'A repo'} is gated and the job carried no token.",
                             evidence=evidence, next_steps=steps,
                             change=c.change("pass your token as the job's HF_TOKEN secret (secrets "
                                             "{\"HF_TOKEN\": \"$HF_TOKEN\"}; retry adds it)", list(args)))
        return Diagnosis(kind=kind, summary=f"{repo or 'A repo'} is gated and the token has no access to it.",
                         evidence=evidence, next_steps=steps)
    if kind == "repo_not_found":
        repo, flag = c.repo_named(evidence)
        what = f"{flag} {repo}" if flag and repo else repo or "a repo the job reads"
        return Diagnosis(kind=kind, summary=f"{what} does not exist on the Hub, or is private and the job's token "
                                            "cannot read it.", evidence=evidence, next_steps=[
                             f"correct {flag or 'the repo id'} (owner/name, as on its Hub page)",
                             "for a private repo, pass a token that can read it as the HF_TOKEN secret",
                             "dataset_inspect / estimate_cost check a name before any money is spent"])
    if kind == "dataset_split":
        names = _names_in(evidence) or _names_in("\n".join(c.lines[-50:]))
        method = _METHOD_OF_SCRIPT.get(c.script or "") or (get_arg(args, "--method") if c.script else None)
        chosen = method_split(names, method)
        given = get_arg(args, "--dataset_train_split") or "train"
        if chosen and chosen != given:
            return Diagnosis(kind=kind, summary=f"The dataset has no split {given!r}" +
                             (f"; it has {', '.join(names)}." if names else "."), evidence=evidence,
                             change=c.change(f"read split {chosen!r} (--dataset_train_split {chosen}), the one "
                                             f"{(method or 'this method').upper()} trains on",
                                             set_arg(args, "--dataset_train_split", chosen)))
        return Diagnosis(kind=kind, summary="The split the job asked for does not exist.", evidence=evidence,
                         next_steps=["run dataset_inspect: it lists the splits and picks the method's",
                                     "pass --dataset_train_split with one of them"])
    if kind == "dataset_config":
        names = _names_in(evidence) or _names_in("\n".join(c.lines[-50:]))
        if names:
            return Diagnosis(kind=kind, summary="The dataset needs a config (subset) the job did not give, or the "
                                                f"one given does not exist; it has {', '.join(names)}.",
                             evidence=evidence,
                             change=c.change(f"read config {names[0]!r} (--dataset_config {names[0]}; "
                                             f"the others: {', '.join(names[1:]) or 'none'})",
                                             set_arg(args, "--dataset_config", names[0])))
        return Diagnosis(kind=kind, summary="The dataset's config (subset) is missing or wrong.", evidence=evidence,
                         next_steps=["run dataset_inspect to list the configs, then pass --dataset_config"])
    if kind == "revision_not_found":
        flags = [flag for flag in _REVISION_FLAGS if get_arg(args, flag) is not None]
        if flags:
            fixed = list(args)
            for flag in flags:
                fixed = _drop_arg(fixed, flag)
            return Diagnosis(kind=kind, summary="A revision (branch, tag or commit) the job asked for does not "
                                                "exist.", evidence=evidence,
                             change=c.change(f"drop {', '.join(flags)}: read the default branch (main)", fixed))
        return Diagnosis(kind=kind, summary="A revision (branch, tag or commit) the job read does not exist.",
                         evidence=evidence, next_steps=["check the revision on the repo's page (Files and versions)"])
    if kind == "hub_push_failure":
        return Diagnosis(kind=kind, summary="Training ran but pushing to the Hub failed.", evidence=evidence,
                         change=c.change("resubmit with --resume auto: it continues from the last checkpoint of the "
                                         "same run that reached the Hub", resume),
                         next_steps=["check the token's write access and the repo id"])
    if kind == "dataset_format":
        return Diagnosis(kind=kind, summary="The dataset's columns or values do not fit the method.",
                         evidence=evidence, next_steps=[
                             "run dataset_inspect on the dataset for this method and pass the --dataset_mapping it "
                             "returns"])
    if kind == "no_cuda":
        target = "t4-small" if not flavor or flavor.startswith("cpu") else flavor
        return Diagnosis(kind=kind, summary="The script needs a CUDA GPU and the job had none.", evidence=evidence,
                         change=c.change(f"run on a GPU flavor ({target})" if target != flavor else
                                         "drop --load_in_4bit (QLoRA needs CUDA)",
                                         args if target != flavor else remove_flag(args, "--load_in_4bit"),
                                         flavor=target))
    if kind in ("nan_loss", "diverging"):
        lr = _lr(args)
        summary = ("The loss became NaN or infinite: the updates diverged." if kind == "nan_loss" else
                   "The loss kept rising far above its best value: the updates diverged.")
        return Diagnosis(kind=kind, summary=summary + " The run stopped itself; its last good checkpoint was "
                                                      "pushed before it stopped.", evidence=evidence,
                         change=c.change(f"lower the learning rate tenfold ({lr:g} -> {lr / 10:g}) and start from "
                                         "step 0 (--resume never: the checkpoints hold the diverging run)",
                                         set_arg(set_arg(args, "--learning_rate", f"{lr / 10:g}"), "--resume",
                                                 "never")),
                         next_steps=["on a T4 (fp16) move to a bf16 GPU (L4, A10G)", "check the data for empty rows"])
    if kind == "zero_reward_variance":
        return Diagnosis(kind=kind, summary="Every completion of every prompt scored the same reward for many steps: "
                                            "GRPO had no learning signal, so the run stopped itself. No argument "
                                            "change can make a reward function discriminate: retry cannot fix it.",
                         evidence=evidence, next_steps=[
                             "check that the reward functions fit the data (e.g. accuracy needs a solution column "
                             "whose format the completions can match): run with --smoke and read the rewards",
                             "make the task reachable: an easier dataset, a larger or SFT-tuned model, more "
                             "--num_generations or a longer --max_completion_length"])
    if kind == "stalled":
        return Diagnosis(kind=kind, summary="No training step finished for too long (a stalled data loader or a hung "
                                            "collective): the run stopped itself instead of idling to its timeout.",
                         evidence=evidence,
                         change=c.change("resubmit as it was, resuming the last pushed checkpoint (--resume auto)",
                                         resume),
                         next_steps=["if it stalls again at the same step: a streaming dataset or network volume is "
                                     "the usual cause under one GPU, NCCL under several (try one GPU)"])
    if kind == "flat_loss":
        lr = _lr(args)
        return Diagnosis(kind=kind, summary="The loss did not move: nothing is being learned.", evidence=evidence,
                         change=c.change(f"raise the learning rate tenfold ({lr:g} -> {lr * 10:g})",
                                         set_arg(args, "--learning_rate", f"{lr * 10:g}")),
                         next_steps=["run with --smoke: it fails when the gradient is zero (all labels masked)"])
    # dependency_resolution
    return Diagnosis(kind=kind, summary="uv could not install the script's dependencies.", evidence=evidence,
                     next_steps=["pin compatible versions in the PEP 723 header (e.g. trl>=1.16, transformers>=5.2)",
                                 "add the missing package to the header's dependencies"])


def _drop_arg(args: list[str], name: str) -> list[str]:
    """`args` without `--name value` / `--name=value`."""
    return set_arg(args, name, None)[:-1] if name in args or any(a.startswith(name + "=") for a in args) else args


# --- a job, read from its backend ---------------------------------------------------------------------------------

DIAGNOSE_LOG_LINES = 2000


def diagnose_job(backend: JobBackend, job_id: str) -> Diagnosis:
    """Read a job's record (its labels and command: the timeout it was submitted with) and the end of its log from
    `backend`, then diagnose it."""
    job = backend.inspect(job_id)
    record = read_record(job)
    lines = list(backend.logs(job_id, tail=DIAGNOSE_LOG_LINES))
    return diagnose(job.stage, job.message, lines, record.script_args, flavor=record.flavor,
                    timeout_seconds=record.timeout_seconds, script=record.script, secret_names=job.secret_names)
