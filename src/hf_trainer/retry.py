"""retry: a failed job again, changed so that it passes its own checks, or a plain statement that no retry can work.

    read the job (jobs/records.py: script, arguments, flavor and the timeout it was submitted with)
    -> diagnose it (diagnose.py: the failure and the argument that fixes it)
    -> size the change with the estimator: for out of memory, the first change that fits the same flavor by the
       estimator's numbers (calibrated by the failure: the configuration that ran out of memory is known not to fit),
       else the cheapest flavor that fits; for a timeout, the work left from the last pushed checkpoint, at the speed
       the job really ran
    -> a bundled training script keeps its output repo and resumes (--resume auto) when the change leaves its
       checkpoints usable; its timeout covers the work left, never the Hub's 30-minute default
    -> preflight the job exactly as it will be sent; with confirm, submit it through the one pipeline (jobs/submit.py)

Dependencies (the backend, the estimator and inspector hooks of jobs/submit.py) are parameters or hooks: tests stand
them in.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from hf_trainer.bundled_scripts import TRAINING_SCRIPTS
from hf_trainer.diagnose import DIAGNOSE_LOG_LINES, Diagnosis, diagnose, get_arg, has_flag, remove_flag, set_arg
from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.base import JobBackend, JobInfo
from hf_trainer.jobs.records import RECORD_LABELS, RETRY_LABEL, JobRecord, read_record, record_labels
from hf_trainer.plan_decisions import Decision, decisions_between
from hf_trainer.preflight import PreflightReport
from hf_trainer.runtime.resume import STATE_ARGUMENTS
from hf_trainer.runtime.vocabulary import timeout_seconds as job_timeout_seconds
from hf_trainer.timeouts import MAX_TIMEOUT_SECONDS, format_duration

# Failures after which the same run continues from its last pushed checkpoint.
RESUMABLE = frozenset({"out_of_memory", "timeout", "hub_push_failure", "stalled"})
# Flags whose change makes the checkpoints another run's (runtime/resume.py refuses them) or whose optimizer state the
# new job cannot load (an 8-bit optimizer, sharded FSDP state): a job changed this way starts from step 0.
FRESH_START_FLAGS = (*(f"--{name}" for name in STATE_ARGUMENTS), "--optim", "--fsdp")
# A configuration that ran out of memory needs at least this much headroom under the estimator's calibrated numbers.
CALIBRATED_HEADROOM = 0.9

_OOM_NUMBERS = re.compile(r"Tried to allocate ([\d.]+) ([GM]iB).*total capacity of ([\d.]+) GiB of which "
                          r"([\d.]+) ([GM]iB) is free", re.I)
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_PROGRESS = re.compile(r"\b(\d+)/(\d+) \[")
# runtime/early_stop.py prints one at each save, with or without a progress bar (--json runs have none).
_SAVED = re.compile(r"hf-trainer checkpoint: step (\d+) of (\d+)")


class RetryPlan(BaseModel):
    """A failed job, its diagnosis, and the job that would run instead (submitted with confirm)."""

    failed_job_id: str
    diagnosis: Diagnosis
    record: JobRecord | None = Field(default=None, description="How the failed job was submitted (its labels and command).")
    script: str | None
    script_args: list[str]
    flavor: str | None
    timeout_seconds: int | None
    resumes: bool = Field(default=False, description="The new job continues the failed one's last pushed checkpoint.")
    estimated_seconds: float | None = Field(default=None, description="The estimator's time for the work the new job does.")
    reasons: list[str] = Field(default_factory=list, description="How the change, flavor and timeout were chosen.")
    blocked: str | None = Field(default=None, description="Why no retry can work, when none can.")
    decisions: list[Decision] = Field(default_factory=list, description="Changes of method, model, precision or data "
                                      "the retry makes (e.g. LoRA or QLoRA to fit): the person decides them.")
    preflight: PreflightReport | None
    submitted: bool = False
    job: JobInfo | None = None

    def render(self) -> str:
        lines = [self.diagnosis.render()]
        lines += [f"  sized: {reason}" for reason in self.reasons]
        lines += [f"  {decision.render()}" for decision in self.decisions]
        if self.blocked:
            lines.append(f"  resubmit: no retry can work: {self.blocked}")
        elif self.script is None:
            lines.append("  resubmit: not possible automatically (the job did not run a bundled script); apply the "
                         "fix by hand")
        elif self.diagnosis.change is None:
            lines.append("  resubmit: no automatic change for this failure; follow the steps above")
        elif self.submitted and self.job:
            lines.append(f"  resubmitted as job {self.job.id}: {self.job.url}")
        else:
            timeout = format_duration(self.timeout_seconds) if self.timeout_seconds else "not known (pass timeout)"
            lines.append(f"  resubmit {self.script} with: {' '.join(self.script_args)}"
                         + (f" on {self.flavor}" if self.flavor else "") + f", timeout {timeout}"
                         + (", resuming the last pushed checkpoint" if self.resumes else "")
                         + " (call again with confirm: true after the person agrees)")
        if self.preflight is not None and not self.preflight.ok:
            lines.append("  " + self.preflight.render().replace("\n", "\n  "))
        elif self.preflight is not None and self.preflight.budget_line:
            lines.append(f"  {self.preflight.budget_line}")
        return "\n".join(lines)


# --- reading progress and memory from the failed job's log --------------------------------------------------------


@dataclass
class Progress:
    """How far the failed job got: the last checkpoint it saved, the last step it logged, the steps in all."""

    checkpoint_step: int = 0
    last_step: int = 0
    total_steps: int | None = None

    @property
    def saved_fraction(self) -> float:
        if not self.total_steps or not self.checkpoint_step:
            return 0.0
        return min(1.0, self.checkpoint_step / self.total_steps)


def read_progress(lines: list[str]) -> Progress:
    """Steps from the scripts' checkpoint lines (`hf-trainer checkpoint: step 300 of 1000`), the trainer's progress
    bar (`300/1000 [`) and saved checkpoint folders (`checkpoint-300`)."""
    progress = Progress()
    for line in lines:
        saved = _SAVED.search(line)
        if saved:
            step, total = int(saved.group(1)), int(saved.group(2))
            progress.checkpoint_step = max(progress.checkpoint_step, step)
            progress.last_step = max(progress.last_step, step)
            if total > 0:
                progress.total_steps = total
            continue
        for match in _CHECKPOINT.finditer(line):
            progress.checkpoint_step = max(progress.checkpoint_step, int(match.group(1)))
        for match in _PROGRESS.finditer(line):
            done, total = int(match.group(1)), int(match.group(2))
            if 0 < total and done <= total:
                progress.last_step, progress.total_steps = max(progress.last_step, done), total
    return progress


def oom_need_gib(lines: list[str]) -> float | None:
    """What the GPU held plus what it was asked for when it ran out ("Tried to allocate 2 GiB ... total capacity of
    22 GiB of which 1 GiB is free" -> 23 GiB), or None when the log does not say."""
    for line in reversed(lines):
        match = _OOM_NUMBERS.search(line)
        if match:
            tried = float(match.group(1)) / (1024 if match.group(2) == "MiB" else 1)
            free = float(match.group(4)) / (1024 if match.group(5) == "MiB" else 1)
            return float(match.group(3)) - free + tried
    return None


# --- the estimator, asked about candidate changes -----------------------------------------------------------------


@dataclass
class Sizer:
    """The estimator for one script and its data: the dataset is measured once, each candidate is estimated on every
    flavor (the rows of estimate_cost)."""

    script: str
    backend_name: str
    api: Any = None
    method: str = "sft"
    num_rows: int | None = None
    mean_tokens: float | None = None
    dataset_verdict: str | None = None
    dataset_reasons: list[str] = field(default_factory=list)
    suggested_mapping: str | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def for_job(cls, script: str, script_args: list[str], backend_name: str, api: Any = None) -> "Sizer":
        sizer = cls(script=script, backend_name=backend_name, api=api, method=TRAINING_SCRIPTS[script])
        values = submit.script_arguments(script, script_args)
        if script == "train_vlm.py":
            sizer.method = values.get("method") or sizer.method
        dataset = values.get("dataset_name")
        if dataset:
            inspection, sizer.warnings = submit.measure_data(
                sizer.method, values.get("model_name_or_path"), dataset, config=values.get("dataset_config"),
                split=values.get("dataset_train_split"), max_length=values.get("max_length"))
            verdict = inspection.methods.get(sizer.method)
            if verdict is not None:
                sizer.dataset_verdict, sizer.dataset_reasons = verdict.verdict, list(verdict.reasons)
                sizer.suggested_mapping = verdict.mapping
            sizer.num_rows = inspection.source.num_rows or inspection.sample_rows
            stats = inspection.token_stats
            sizer.mean_tokens = stats.mean if stats and stats.mean else submit.FALLBACK_TOKENS_PER_ROW
        return sizer

    def rows(self, script_args: list[str]) -> dict[str, Any]:
        """{flavor: the estimator's row} for the job run with `script_args`."""
        from hf_trainer.estimate import EstimateRequest, make_request

        values = submit.script_arguments(self.script, script_args)
        settings = submit._estimator_settings(values, EstimateRequest)
        local = self.backend_name == "local"
        settings.update(method=self.method, num_rows=self.num_rows, mean_tokens_per_row=self.mean_tokens,
                        max_hours=None, local=local, push_to_hub=bool(values.get("push_to_hub")), flavors=None)
        result = submit.estimator(make_request(**settings), self.api)
        return {row.flavor: row for row in result.rows if not local or row.flavor == "local"}

    def batch_shape(self, script_args: list[str]) -> tuple[int, int]:
        from hf_trainer.runtime.estimate_math import resolve_batch_shape

        values = submit.script_arguments(self.script, script_args)
        return resolve_batch_shape(self.method, values.get("per_device_train_batch_size"),
                                   int(values.get("gradient_accumulation_steps") or 1))


def memory_candidates(args: list[str], batch: int, accumulation: int, on_gpu: bool) -> list[tuple[str, list[str]]]:
    """Changes that lower peak memory, each added to the ones before, cheapest in speed and fidelity first:
    activation checkpointing back on, smaller micro-batches with the same effective batch, an 8-bit optimizer, a LoRA
    adapter, a 4-bit base (QLoRA). (description, the arguments with it) per step."""
    out: list[tuple[str, list[str]]] = []
    current = list(args)
    if has_flag(current, "--no-activation_checkpointing"):
        current = set_arg(remove_flag(current, "--no-activation_checkpointing"), "--activation_checkpointing", None)
        out.append(("activation checkpointing back on", current))
    effective = batch * accumulation
    while batch > 1:
        batch //= 2
        accumulation = max(1, math.ceil(effective / batch))
        current = set_arg(set_arg(current, "--per_device_train_batch_size", str(batch)),
                          "--gradient_accumulation_steps", str(accumulation))
        out.append((f"batch {batch} x accumulation {accumulation} (same effective batch)", current))
    optim = get_arg(current, "--optim")
    if on_gpu and not has_flag(current, "--use_peft") and optim in (None, "adamw_torch", "adamw_torch_fused"):
        current = set_arg(current, "--optim", "adamw_bnb_8bit")
        out.append(("8-bit AdamW (--optim adamw_bnb_8bit)", current))
    if not has_flag(current, "--use_peft"):
        current = set_arg(current, "--use_peft", None)
        out.append(("a LoRA adapter instead of all weights (--use_peft)", current))
    if on_gpu and not has_flag(current, "--load_in_4bit"):
        current = set_arg(current, "--load_in_4bit", None)
        out.append(("a 4-bit base model (QLoRA, --load_in_4bit)", current))
    return out


@dataclass
class Choice:
    description: str
    script_args: list[str]
    flavor: str | None
    row: Any
    reasons: list[str]


def choose_memory_change(sizer: Sizer, args: list[str], flavor: str | None, lines: list[str], *,
                         flavor_fixed: bool = False, failed_flavor: str | None = None) -> tuple[Choice | None, str]:
    """The change for an out-of-memory failure: the first candidate that fits `flavor` by the estimator's numbers,
    calibrated by the failure; else (unless the flavor was given) the cheapest flavor where the least change fits.
    Returns (the choice or None, the calibration in words)."""
    target = flavor or ("local" if sizer.backend_name == "local" else "cpu-basic")
    base_rows = sizer.rows(args)
    base = base_rows.get(failed_flavor or target)
    factor, headroom = 1.0, 1.0
    calibration = "the estimator's numbers"
    if base is not None and base.verdict == "fits" and base.memory_gib > 0:
        observed = max(base.memory_available_gib, oom_need_gib(lines) or 0.0)
        factor = max(1.0, observed / base.memory_gib)
        headroom = CALIBRATED_HEADROOM
        calibration = (f"the estimator's numbers x{factor:.2f}: it put the failed configuration at "
                       f"{base.memory_gib:.1f} GiB, which ran out of memory on {failed_flavor or target} "
                       f"(at least {observed:.1f} GiB), with {100 - CALIBRATED_HEADROOM * 100:.0f}% headroom")

    def fits(row: Any) -> bool:
        return row is not None and row.verdict == "fits" and \
            row.memory_gib * factor <= row.memory_available_gib * headroom

    batch, accumulation = sizer.batch_shape(args)
    on_gpu = not target.startswith("cpu") and target != "local"
    candidates = memory_candidates(args, batch, accumulation, on_gpu)
    if flavor_fixed and failed_flavor and target != failed_flavor:
        candidates.insert(0, ("the same arguments", list(args)))
    estimated = [(text, cand, sizer.rows(cand)) for text, cand in candidates]
    for text, cand, rows in estimated:
        row = rows.get(target)
        if row is not None and fits(row):
            return Choice(text, cand, flavor, row,
                          [f"{text} fits {target}: needs {row.memory_gib * factor:.1f} of "
                           f"{row.memory_available_gib:.0f} GiB by {calibration}"]), calibration
    if flavor_fixed or sizer.backend_name == "local":
        return None, calibration
    # Another flavor: where does the least change fit, and which of those costs least?
    options = []
    everything = [("the same arguments", list(args), base_rows), *estimated]
    for name in base_rows:
        if name == target:
            continue
        for index, (text, cand, rows) in enumerate(everything):
            row = rows.get(name)
            if row is not None and fits(row):
                options.append((row.cost_usd, index, name, text, cand, row))
                break
    if not options:
        return None, calibration
    cost, _, name, text, cand, row = min(options, key=lambda o: o[:2])
    return Choice(text if text != "the same arguments" else f"move to {name}", cand, name, row,
                  [f"nothing the scripts can change fits {target} by {calibration}",
                   f"{name} is the cheapest flavor that fits (~${cost:.2f} for the whole run, "
                   f"{row.memory_gib * factor:.1f} of {row.memory_available_gib:.0f} GiB) with "
                   f"{text}"]), calibration


# --- the plan -------------------------------------------------------------------------------------------------------


def _fresh_start(before: list[str], after: list[str]) -> list[str]:
    """The flags among FRESH_START_FLAGS whose value differs between two argument lists."""
    changed = []
    for flag in FRESH_START_FLAGS:
        if has_flag(before, flag) != has_flag(after, flag) or get_arg(before, flag) != get_arg(after, flag):
            changed.append(flag)
    return changed


def _capped(seconds: float) -> int:
    return min(MAX_TIMEOUT_SECONDS, job_timeout_seconds(seconds))


def _elapsed(job: JobInfo) -> float | None:
    if job.started_at and job.finished_at:
        return max(0.0, (job.finished_at - job.started_at).total_seconds())
    return None


def plan_retry(backend: JobBackend, job_id: str, *, flavor: str | None = None, timeout_seconds: int | None = None
               ) -> RetryPlan:
    """Diagnose a finished job and plan the job that would run instead (see the module docstring). Submits nothing."""
    job = backend.inspect(job_id)
    record = read_record(job)
    lines = list(backend.logs(job_id, tail=DIAGNOSE_LOG_LINES))
    diagnosis = diagnose(job.stage, job.message, lines, record.script_args, flavor=record.flavor,
                         timeout_seconds=record.timeout_seconds, script=record.script,
                         secret_names=job.secret_names)
    script = record.script if record.script in TRAINING_SCRIPTS else None
    change = diagnosis.change
    plan = RetryPlan(failed_job_id=job_id, diagnosis=diagnosis, record=record, script=script,
                     script_args=change.script_args if change else list(record.script_args),
                     flavor=flavor or (change.flavor if change else record.flavor),
                     timeout_seconds=timeout_seconds or (change.timeout_seconds if change else record.timeout_seconds),
                     preflight=None)
    if script is None or change is None:
        return plan
    return _sized(plan, backend, job, lines, flavor_given=flavor, timeout_given=timeout_seconds)


def _sized(plan: RetryPlan, backend: JobBackend, job: JobInfo, lines: list[str], *, flavor_given: str | None,
           timeout_given: int | None) -> RetryPlan:
    """Size the planned change with the estimator, decide resume and timeout, and preflight the result."""
    assert plan.script is not None and plan.record is not None
    script, record, kind = plan.script, plan.record, plan.diagnosis.kind
    name = getattr(backend, "name", "hub")
    reasons: list[str] = []
    args, chosen_flavor = list(plan.script_args), plan.flavor
    row = None
    try:
        sizer: Sizer | None = Sizer.for_job(plan.script, args, name, getattr(backend, "api", None))
    except UserError as exc:
        sizer = None
        reasons.append(f"not sized by the estimator ({exc}): the diagnosis's own change is planned")
    if sizer is not None and kind == "out_of_memory":
        try:
            choice, _ = choose_memory_change(sizer, list(record.script_args), flavor_given or record.flavor, lines,
                                             flavor_fixed=flavor_given is not None, failed_flavor=record.flavor)
        except UserError as exc:
            choice = None
            reasons.append(f"not sized by the estimator ({exc})")
            sizer = None
        if sizer is not None and choice is None:
            where = flavor_given or record.flavor or "this machine"
            also = "" if flavor_given or name == "local" else " nor on any other flavor"
            return plan.model_copy(update={
                "reasons": reasons, "blocked": f"no change the training scripts can make (smaller batches, "
                f"activation checkpointing, an 8-bit optimizer, LoRA, QLoRA) fits {where}{also} by the estimator's "
                "numbers, calibrated by this failure. Use a smaller model or a shorter --max_length, then plan it "
                "again with estimate_cost"})
        if choice is not None:
            args, chosen_flavor, row = choice.script_args, choice.flavor or chosen_flavor, choice.row
            reasons += choice.reasons
            plan = plan.model_copy(update={"diagnosis": plan.diagnosis.model_copy(update={
                "change": plan.diagnosis.change.model_copy(update={  # type: ignore[union-attr]
                    "description": f"{choice.description}" + (f" on {chosen_flavor}" if chosen_flavor != record.flavor
                                                              else ""),
                    "script_args": args, "flavor": chosen_flavor})})})
    if sizer is not None and row is None:
        try:
            row = sizer.rows(args).get(chosen_flavor or ("local" if name == "local" else "cpu-basic"))
        except UserError as exc:
            reasons.append(f"not estimated ({exc})")

    # Resume: the same run continues from its last pushed checkpoint, unless the change makes its checkpoints unusable.
    resumes = False
    if kind in RESUMABLE:
        fresh = _fresh_start(record.script_args, args)
        if fresh:
            args = set_arg(args, "--resume", "never")
            reasons.append(f"starts from step 0: {', '.join(fresh)} changed, so the failed run's checkpoints cannot "
                           "be continued")
        else:
            args = set_arg(args, "--resume", "auto")
            resumes = name == "local" or has_flag(args, "--push_to_hub")
            if not resumes:
                reasons.append("starts from step 0: the failed job pushed no checkpoints (no --push_to_hub)")
    progress = read_progress(lines) if resumes else Progress()
    share_left = 1.0 - progress.saved_fraction

    # Timeout: the work left, at the estimator's speed and (after a timeout) at the speed the job really ran.
    estimated = row.hours * 3600 * share_left if row is not None and row.hours else None
    if estimated is not None:
        reasons.append(f"work left: ~{format_duration(estimated)} on {chosen_flavor or 'this machine'} by the "
                       "estimate" + (f" (from step {progress.checkpoint_step} of {progress.total_steps})"
                                     if progress.saved_fraction else ""))
    timeout = timeout_given
    if timeout is None:
        candidates = []
        if estimated is not None:
            candidates.append(_capped(estimated))
        if kind == "timeout" and record.timeout_seconds:
            if progress.last_step and progress.total_steps:
                measured = record.timeout_seconds / progress.last_step * (progress.total_steps -
                                                                          progress.checkpoint_step)
                candidates.append(_capped(measured))
                reasons.append(f"measured: {progress.last_step} steps in {format_duration(record.timeout_seconds)}, "
                               f"{progress.total_steps - progress.checkpoint_step} steps left")
            else:  # no progress known: the submitted timeout was too short, whatever the estimate says
                candidates.append(min(MAX_TIMEOUT_SECONDS, 2 * record.timeout_seconds))
        elif record.timeout_seconds:
            candidates.append(record.timeout_seconds)  # a retry keeps the timeout it was given, or extends it
        if not candidates and (elapsed := _elapsed(job)):
            candidates.append(_capped(2 * elapsed))
            reasons.append(f"no timeout recorded and no estimate: twice the failed run's {format_duration(elapsed)}")
        timeout = max(candidates) if candidates else None
    if timeout is None and name == "hub":
        reasons.append("no timeout known (not recorded, not estimated): pass timeout, or the Hub stops the job "
                       "after 30 minutes")
    elif timeout is not None and record.timeout_seconds and timeout_given is None:
        reasons.append(f"timeout {format_duration(timeout)} (submitted with {format_duration(record.timeout_seconds)}"
                       + (", read from the job's record)" if record.timeout_source == "label" else ")"))

    # The very job submit_training sends, so the report approves exactly it (PreflightReport.checked).
    request = submit.training_request(script, args, backend, flavor=chosen_flavor, timeout_seconds=timeout)
    if sizer is not None:
        memory_fits = None if row is None else (True if kind == "out_of_memory" else row.verdict == "fits")
        detail = None if row is None else f"needs {row.memory_gib:.1f} GiB, has {row.memory_available_gib:.0f} GiB"
        if row is not None and row.verdict == "fits with changes":
            detail = (detail or "") + f"; it fits only with {' '.join(row.script_args)} ({', '.join(row.changes)})"
        report = submit.preflight_job(request, name, submit.Estimated(
            seconds=estimated, memory_fits=memory_fits, memory_detail=detail, dataset_verdict=sizer.dataset_verdict,
            dataset_reasons=sizer.dataset_reasons, suggested_mapping=sizer.suggested_mapping,
            warnings=sizer.warnings))
    else:
        report = submit.preflight_job(request, name)
    report = submit.with_budget(report, backend, flavor=chosen_flavor, timeout_seconds=timeout)  # what it leaves
    # A change of method, model, precision or data is the person's to make, as in a train plan (plan_decisions.py).
    before = list(plan.record.script_args) if plan.record is not None else list(plan.script_args)
    decisions = decisions_between(before, args, why=f"to retry after {plan.diagnosis.kind}",
                                  alternative="Retry without it on a larger flavor (pass flavor), or not at all.")
    return plan.model_copy(update={"script_args": args, "flavor": chosen_flavor, "timeout_seconds": timeout,
                                   "resumes": resumes, "estimated_seconds": estimated, "reasons": reasons,
                                   "preflight": report, "decisions": decisions})


def retry_job(backend: JobBackend, job_id: str, *, confirm: bool = False, force: bool = False,
              flavor: str | None = None, timeout_seconds: int | None = None) -> RetryPlan:
    """Plan the retry of a finished job and, with `confirm`, submit it through the same pipeline as every job
    (refused while its preflight has errors, unless `force`; never when no retry can work)."""
    plan = plan_retry(backend, job_id, flavor=flavor, timeout_seconds=timeout_seconds)
    if not confirm or plan.script is None or plan.diagnosis.change is None:
        return plan
    if plan.blocked:
        raise UserError(f"Not resubmitted: no retry can work: {plan.blocked}.")
    job = backend.inspect(job_id)
    labels = {k: v for k, v in job.labels.items() if k not in RECORD_LABELS}
    labels.update({RETRY_LABEL: job_id, **record_labels(
        script=plan.script, script_args=plan.script_args, flavor=plan.flavor, timeout_seconds=plan.timeout_seconds,
        estimated_seconds=plan.estimated_seconds)})
    new_job, _ = submit.submit_training(plan.script, plan.script_args, backend, flavor=plan.flavor,
                                        timeout_seconds=plan.timeout_seconds, labels=labels, force=force,
                                        report=plan.preflight, action="Not resubmitted")
    return plan.model_copy(update={"submitted": True, "job": new_job})
