"""A smoke job before a long run: one step of the very job, with its whole end, before the money is spent.

NVIDIA's TAO skill runs one step before every full run. A 10-hour job can still fail at its very end: a push to a
repo the token cannot write, an evaluation that crashes, a card that cannot be written. `train` with `smoke: true`
first sends a rehearsal of the same bundled script on the same data and arguments, with these differences only:

- `--max_steps 1`, and `--max_train_samples` cut to a few hundred rows (tokenizing the whole set proves nothing more);
- it saves, evaluates, writes the card and pushes, as the full run does, but to a throw-away private repo of the
  person's, `<hub_model_id>-smoke` (locally `<output_dir>-smoke`), and with `--resume never`;
- the baseline evaluation runs when the full run plans it (`--eval_baseline`); the benchmark job after training does
  not (a separate priced job);
- on the cheapest flavor where the same job fits unchanged, among those with the same number of GPUs and the same
  precision policy (bf16 or fp16-only) as the full run's, so the rehearsal runs the same code paths; the estimator
  prices it (its own estimate with max_steps=1, plus the baseline evaluation), and the plan shows both jobs.

Only after the smoke job COMPLETED is the full job sent; after ERROR (or CANCELED) nothing more is sent and the
refusal carries the smoke job's diagnosis (diagnose.py). Waiting uses the backend's own `wait` (its clock and sleep are
the backend's, so tests wait without sleeping). The script's own `--smoke` flag is another thing: one step with no
save, push or card, for checking data and loss by hand.
"""

from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError
from hf_trainer.jobs.base import JobBackend, JobInfo, Stage
from hf_trainer.preflight import PreflightReport
from hf_trainer.timeouts import format_duration

if TYPE_CHECKING:  # train imports this module's SmokePlan; the functions below import train when they run
    from hf_trainer.train import TrainPlan, TrainRequest

SMOKE_SUFFIX = "-smoke"
# How often train polls the smoke job (the backend's wait; tests pass a backend whose sleep does not sleep).
POLL_SECONDS = 30.0
# A rehearsal's timeout: its estimate + 25%, but never under this: the final evaluation runs over the whole eval
# split (the estimate counts no evaluation for one step) and a big model's upload varies.
MIN_TIMEOUT_SECONDS = 15 * 60
# Waiting covers the job's timeout plus this much time in SCHEDULING.
SCHEDULING_GRACE_SECONDS = 30 * 60
# Rows the rehearsal tokenizes: enough for one optimiser step of any batch shape the scripts plan.
TRAIN_ROWS = 512


class SmokePlan(BaseModel):
    """The one-step rehearsal sent before the full job, what it rehearses, and how it ended."""

    script_args: list[str]
    flavor: str | None
    price_per_hour: float | None
    estimated_hours: float | None
    estimated_cost_usd: float | None
    timeout_seconds: int
    model_repo: str | None = Field(default=None, description="The throw-away repo it pushes to (private), or None locally.")
    output_dir: str | None = None
    labels: dict[str, str]
    rehearses: list[str] = Field(description="What of the full run's end it runs.")
    flavor_note: str = Field(default="", description="Why this flavor.")
    preflight: PreflightReport
    job: JobInfo | None = Field(default=None, description="The smoke job once sent (after waiting: its final stage).")

    @property
    def passed(self) -> bool:
        return self.job is not None and self.job.stage == Stage.COMPLETED

    def render(self) -> str:
        cost = (f"~{format_duration(self.estimated_hours * 3600)}, ~${self.estimated_cost_usd:.2f}"
                if self.estimated_hours is not None and self.estimated_cost_usd is not None else "not estimated")
        where = f" on {self.flavor}" if self.flavor else ""
        lines = [f"smoke job      1 step{where} first ({cost}, timeout {format_duration(self.timeout_seconds)})"
                 + (f"; {self.flavor_note}" if self.flavor_note else ""),
                 f"  rehearses    {', '.join(self.rehearses)}",
                 "  then         the full job is sent only when the smoke job COMPLETED"]
        if not self.preflight.ok:
            lines.append("  " + self.preflight.render().replace("\n", "\n  "))
        if self.job is not None:
            lines.append(f"  smoke job id {self.job.id}: {self.job.stage.value}"
                         + (f" ({self.job.url})" if self.job.url else ""))
        return "\n".join(lines)


def recording(estimator: Callable[[Any], Any], seen: list[Any]) -> Callable[[Any], Any]:
    """`estimator`, remembering each request it is asked: the last one is the estimate of the job the plan sends."""

    def estimate(request: Any) -> Any:
        seen.append(request)
        return estimator(request)

    return estimate


def smoke_script_args(script_args: list[str], *, backend_name: str) -> tuple[list[str], str | None, str | None]:
    """The full job's arguments made into the rehearsal's: (arguments, throw-away repo, local output folder)."""
    from hf_trainer.diagnose import get_arg, has_flag, remove_flag, set_arg

    out = set_arg(list(script_args), "--max_steps", "1")
    rows = get_arg(out, "--max_train_samples")
    out = set_arg(out, "--max_train_samples", str(min(int(rows), TRAIN_ROWS) if rows and rows.isdigit()
                                                  else TRAIN_ROWS))
    out = set_arg(out, "--resume", "never")  # a checkpoint left by an earlier rehearsal is not continued
    run_name = get_arg(out, "--run_name")
    if run_name:
        out = set_arg(out, "--run_name", run_name[:128 - len(SMOKE_SUFFIX)] + SMOKE_SUFFIX)
    repo = get_arg(out, "--hub_model_id")
    smoke_repo = None
    if repo and has_flag(out, "--push_to_hub"):
        owner, _, name = repo.partition("/")
        smoke_repo = f"{owner}/{name[:96 - len(SMOKE_SUFFIX)]}{SMOKE_SUFFIX}"
        out = remove_flag(set_arg(out, "--hub_model_id", smoke_repo), "--no-hub_private_repo")  # always private
    output_dir = get_arg(out, "--output_dir")
    smoke_dir = None
    if output_dir and backend_name == "local":
        smoke_dir = output_dir.rstrip("/") + SMOKE_SUFFIX
        out = set_arg(out, "--output_dir", smoke_dir)
    return out, smoke_repo, smoke_dir


def _device_class(gpu: str) -> tuple[int, bool | None]:
    """(GPU count, bf16) from an estimate row's `gpu` text ('1x A10G', 'CPU (8 vCPU)'); CPU is (0, False)."""
    from hf_trainer.runtime.estimate_math import gpu_spec

    count, _, model = gpu.partition("x ")
    if not model or not count.isdigit():
        return 0, False
    spec = gpu_spec(model)
    return int(count), spec.bf16 if spec else None


def choose_row(rows: list[Any], full_flavor: str | None, backend_name: str) -> tuple[Any, str]:
    """The rehearsal's estimate row: locally this machine; on the Hub the cheapest flavor where the same job fits
    unchanged, with the full flavor's GPU count and precision class (else the full flavor itself)."""
    if backend_name != "hub":
        return next((r for r in rows if r.flavor == "local"), None), ""
    full = next((r for r in rows if r.flavor == full_flavor), None)
    same = [r for r in rows if r.flavor != "local" and r.verdict == "fits"
            and (full is None or _device_class(r.gpu) == _device_class(full.gpu))]
    if not same:
        return full, f"{full_flavor}: the same flavor as the full job" if full is not None else ""
    best = min(same, key=lambda r: (r.cost_usd, r.flavor != full_flavor))
    if best.flavor == full_flavor:
        return best, "the full job's flavor (no cheaper one of its kind fits the same job)"
    return best, (f"the cheapest flavor where the same job fits, with {full.gpu if full else best.gpu}'s GPU count "
                  "and precision")


def plan_smoke(plan: "TrainPlan", backend: JobBackend, estimate_request: Any,
               estimator: Callable[[Any], Any]) -> SmokePlan:
    """The rehearsal of `plan`'s job: its arguments, flavor, estimate, timeout, labels and preflight."""
    import math

    from hf_trainer.diagnose import has_flag
    from hf_trainer.estimate import apply_script_args
    from hf_trainer.jobs import submit
    from hf_trainer.jobs.records import ESTIMATE_LABEL
    from hf_trainer.runtime.vocabulary import timeout_seconds as job_timeout_seconds
    from hf_trainer.train import _label_value

    args, repo, output_dir = smoke_script_args(plan.script_args, backend_name=plan.backend)
    # The estimate of the job that runs (the plan's changes applied), for one step, on every flavor.
    one_step = apply_script_args(estimate_request, plan.change_args)
    one_step = one_step.model_validate({**one_step.model_dump(exclude_unset=True), "max_steps": 1,
                                        "flavors": None, "max_hours": None})
    result = estimator(one_step)
    row, note = choose_row(list(result.rows), plan.flavor, plan.backend)
    baseline = has_flag(args, "--eval_baseline")
    seconds = None if row is None else row.hours * 3600 + (row.baseline_eval_s if baseline else 0.0)
    hub = plan.backend == "hub"
    flavor = row.flavor if hub and row is not None else (plan.flavor if hub else None)
    price = row.price_per_hour if hub and row is not None else (0.0 if not hub else None)
    cost = (math.ceil(seconds / 60) / 60 * price) if seconds is not None and price is not None else None
    timeout = max(MIN_TIMEOUT_SECONDS, job_timeout_seconds(seconds)) if seconds is not None else plan.timeout_seconds
    labels = {**{k: v for k, v in plan.labels.items() if k != ESTIMATE_LABEL}, "hf-trainer": "smoke",
              "trackio-run": _label_value((plan.run_name or "run") + SMOKE_SUFFIX)}
    if repo:
        labels["model-repo"] = _label_value(repo)
    if seconds is not None:
        labels[ESTIMATE_LABEL] = str(round(seconds))
    rehearses = ["one optimiser step on the real data", "the save and the evaluation at the end"]
    if baseline:
        rehearses.append("the baseline evaluation (base model before, result after)")
    rehearses.append(f"the model card and the push of checkpoint and model to {repo} (throw-away, private)"
                     if repo else f"the model card, saved in {output_dir or 'the job folder'}")
    report = submit.preflight_job(
        submit.training_request(plan.script, args, backend, flavor=flavor, timeout_seconds=timeout, labels=labels,
                                dependencies=plan.dependencies, namespace=plan.namespace), plan.backend,
        submit.Estimated(seconds=seconds, memory_fits=None if row is None else row.verdict != "does not fit",
                         memory_detail=None if row is None else
                         f"needs {row.memory_gib:.1f} GiB, has {row.memory_available_gib:.0f} GiB"))
    return SmokePlan(script_args=args, flavor=flavor, price_per_hour=price,
                     estimated_hours=None if seconds is None else seconds / 3600, estimated_cost_usd=cost,
                     timeout_seconds=timeout, model_repo=repo, output_dir=output_dir, labels=labels,
                     rehearses=rehearses, flavor_note=note, preflight=report)


def with_smoke(plan: "TrainPlan", req: "TrainRequest", backend: JobBackend, estimate_request: Any,
               estimator: Callable[[Any], Any]) -> "TrainPlan":
    """`plan` with its rehearsal planned and priced; refused when both jobs together pass max_cost_usd."""
    smoke = plan_smoke(plan, backend, estimate_request, estimator)
    total = None if plan.estimated_cost_usd is None or smoke.estimated_cost_usd is None else \
        plan.estimated_cost_usd + smoke.estimated_cost_usd
    if req.max_cost_usd is not None and total is not None and total > req.max_cost_usd:
        raise UserError(f"The smoke job (~${smoke.estimated_cost_usd:.2f}) and the full job "
                        f"(~${plan.estimated_cost_usd:.2f}) cost about ${total:.2f} together, above max_cost_usd "
                        f"${req.max_cost_usd:.2f}. Raise max_cost_usd only if the person agrees, or plan without "
                        "smoke.")
    return plan.model_copy(update={"smoke": smoke})


def run_smoke(plan: "TrainPlan", backend: JobBackend, *, force: bool = False,
              poll_interval: float = POLL_SECONDS) -> "TrainPlan":
    """Send the rehearsal, wait for it, and return `plan` with its final record when it COMPLETED. Any other end:
    UserError with the smoke job's diagnosis, and the full job is not sent."""
    from hf_trainer.jobs import submit

    from hf_trainer import budget

    smoke = plan.smoke
    if smoke is None:
        return plan
    # What would refuse the full job afterwards refuses both now, before the rehearsal is paid for: its preflight
    # errors, and a budget that cannot hold its worst case.
    neither = "Not submitted (neither the smoke job nor the full job)"
    submit.gate(plan.preflight, force=force, action=neither)
    budget.check_spend(backend, flavor=plan.flavor, timeout_seconds=plan.timeout_seconds, action=neither)
    job, _ = submit.submit_training(plan.script, smoke.script_args, backend, flavor=smoke.flavor,
                                    timeout_seconds=smoke.timeout_seconds, labels=smoke.labels, force=force,
                                    report=smoke.preflight, dependencies=plan.dependencies, namespace=plan.namespace,
                                    action="Smoke job not submitted (and so neither the full job)")
    try:
        done = backend.wait(job.id, timeout=smoke.timeout_seconds + SCHEDULING_GRACE_SECONDS,
                            poll_interval=poll_interval)
    except UserError as exc:
        raise UserError(f"The smoke job {job.id} has not finished ({exc}). The full job was NOT sent. When the "
                        f"smoke job is COMPLETED, plan again with smoke false and confirm true; to stop it, cancel "
                        f"job {job.id}.") from None
    smoke = smoke.model_copy(update={"job": done})
    if done.stage != Stage.COMPLETED:
        raise UserError(refusal(done, backend))
    return plan.model_copy(update={"smoke": smoke})


def refusal(job: JobInfo, backend: JobBackend) -> str:
    """Why the full job was not sent: the smoke job's end and its diagnosis."""
    from hf_trainer.diagnose import diagnose_job

    try:
        diagnosis = diagnose_job(backend, job.id).render()
    except UserError as exc:
        diagnosis = f"diagnosis unavailable: {exc}"
    return (f"The smoke job {job.id} ended {job.stage.value}, so the full job was NOT sent (nothing more spent).\n"
            f"{diagnosis}\nFix that, then plan again (smoke: true rehearses again). Read more with hf_jobs_status "
            f"diagnose or logs and job id {job.id}.")
