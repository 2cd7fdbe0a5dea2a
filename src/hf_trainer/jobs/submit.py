"""One submit pipeline for every job that can spend money: uv, run, scheduled uv/run, webhook templates, retry, rerun
and `train` with confirm.

    resolve the script -> estimate (bundled training scripts) -> preflight with that estimate -> refuse or submit

- Resolve: inline text, a local path, an http(s) URL, or a bundled script by name ("train_sft.py", or
  "scripts/train_sft.py" from another folder) found in the package's scripts folder from any working directory.
- Estimate: for a bundled training script, from its own arguments (read with the script's own parser: model, data,
  method, batch, LoRA, ...) on the job's flavor, with the data measured by dataset_inspect. Any part that cannot be
  measured (no network, a private model) becomes a warning: the job is then linted without that number.
- Preflight with the estimate: timeout at least estimate + 25%, memory fit on the flavor, dataset verdict, push and
  token, plus every rule of preflight.py. Errors refuse the job unless `force`; `force` never lets a secret leak.
  Nothing reaches the backend when a job is refused.
- Submit: bundled training scripts on the Hub get the variables that put the job's link and flavor into the model
  card, whichever route submitted them.

Dependencies (the dataset inspector, the estimator) are module-level hooks, so tests replace them.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn, TYPE_CHECKING, TypeVar, cast

from hf_trainer import budget, ledger, paths
from hf_trainer.errors import UserError
from hf_trainer.jobs.arguments import HubUvJobRequest
from hf_trainer.jobs.base import CommandJobRequest, JobBackend, JobInfo, JobRequest, UvJobRequest
from hf_trainer.jobs.records import with_record
from hf_trainer.data_checks import DATA_RULES, check_training_data, force_note, job_token
from hf_trainer.preflight import Finding, PreflightInput, PreflightReport, preflight
from hf_trainer.bundled_scripts import TRAINING_SCRIPTS, bundled
# Findings `force` cannot override: a token in the job's text or arguments leaks the moment the job is created; a
# model or dataset the job cannot read (data_checks.DATA_RULES) makes a job that can only fail after it starts billing.
UNFORCEABLE = frozenset({"literal-token"}) | DATA_RULES
# A command job has no script to lint; its words are checked like script arguments.
_COMMAND_STANDIN = "# /// script\n# dependencies = []\n# ///\n"
# When the dataset's size cannot be measured in tokens, a conservative guess keeps the estimate usable (with a warning).
FALLBACK_TOKENS_PER_ROW = 512


if TYPE_CHECKING:
    from hf_trainer.jobs.hub import HubBackend

# A request keeps its own class (the Hub's subclasses carry its options) through each step.
R = TypeVar("R", bound=JobRequest)

# --- 1. resolve ---------------------------------------------------------------------------------------------------


def bundled_path(script: str) -> Path | None:
    """The package's copy of a bundled script named by `script` ('train_sft.py', 'scripts/train_sft.py'), when no such
    file exists where the caller is; None for anything else (a real file always wins)."""
    text = script.strip() if isinstance(script, str) else ""
    if not text or "\n" in text or "://" in text or not text.endswith(".py"):
        return None
    given = Path(os.path.expanduser(text))
    try:
        if given.exists():
            return None
    except OSError:
        return None
    if len(given.parts) > 1 and (given.is_absolute() or given.parent.name != "scripts"):
        return None
    try:
        candidate = paths.scripts_dir() / given.name
    except UserError:
        return None
    return candidate if candidate.is_file() else None


def resolve(request: R) -> R:
    """The request with a bundled script name replaced by its absolute path (the backends read that file)."""
    if isinstance(request, UvJobRequest):
        path = bundled_path(request.script)
        if path is not None:
            return request.model_copy(update={"script": str(path)})
    return request


def training_script(request: JobRequest) -> str | None:
    """The bundled training script a request runs ('train_sft.py'), or None."""
    if not isinstance(request, UvJobRequest):
        return None
    path = Path(os.path.expanduser(request.script.strip())) if "\n" not in request.script else None
    if path is None or path.name not in TRAINING_SCRIPTS:
        return _training_copy(request.script, path)
    try:
        bundled = paths.scripts_dir() / path.name
        same = path.resolve() == bundled.resolve()
    except (UserError, OSError):
        return None
    return path.name if same else _training_copy(request.script, path)


def _training_copy(script: str, path: Path | None) -> str | None:
    """A copy of a bundled training script elsewhere (or inline) is the same job: recognised by its text."""
    from hf_trainer.jobs.script_source import bundled_copy

    try:
        text = script if path is None else (path.read_text(encoding="utf-8") if path.is_file() else None)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    name = bundled_copy(text)
    return name if name in TRAINING_SCRIPTS else None


# --- 2. estimate --------------------------------------------------------------------------------------------------


@dataclass
class Estimated:
    """What the estimator and the dataset inspector found for one job (None where they could not tell)."""

    seconds: float | None = None
    memory_fits: bool | None = None
    memory_detail: str | None = None
    dataset_verdict: str | None = None
    dataset_reasons: list[str] = field(default_factory=list)
    suggested_mapping: str | None = None
    warnings: list[str] = field(default_factory=list)
    result: Any = None
    row: Any = None


def _default_inspector(params: Any) -> Any:
    from hf_trainer.dataset_inspect import inspect_dataset  # tokenizers load on use

    return inspect_dataset(params)


def _default_estimator(request: Any, api: Any = None) -> Any:
    from hf_trainer.estimate import run_estimate  # the Hub client and the catalog load on use

    return run_estimate(request, api=api)


def _default_data_checker(values: dict[str, Any], token: str | None, method: str | None) -> list[Finding]:
    return check_training_data(values, token=token, method=method)


# Hooks: tests replace them with fakes.
data_checker: Callable[[dict[str, Any], str | None, str | None], list[Finding]] = _default_data_checker
inspector: Callable[[Any], Any] = _default_inspector
estimator: Callable[..., Any] = _default_estimator


class _Refused(Exception):
    pass


def script_arguments(script_name: str, script_args: list[str]) -> dict[str, Any]:
    """The script's own parser applied to `script_args`: {dest: value} with the script's defaults filled in."""
    from hf_trainer.script_defaults import build_parser

    parser = build_parser(script_name)

    def refuse(message: str) -> NoReturn:  # argparse would print usage and exit
        raise _Refused(message)

    parser.error = refuse  # type: ignore[method-assign]
    try:
        known, _ = parser.parse_known_args(list(script_args))
    except _Refused as exc:
        raise UserError(f"{script_name}'s arguments do not parse: {exc}.") from None
    return vars(known)


def measure_data(method: str, model: str | None, dataset: str, *, config: str | None = None,
                 split: str | None = None, max_length: int | None = None) -> tuple[Any, list[str]]:
    """dataset_inspect for the method, with the model's tokenizer when it loads (else without, with a warning)."""
    from hf_trainer.dataset_inspect import DatasetInspectInput

    warnings: list[str] = []
    base: dict[str, Any] = {"dataset_name": dataset, "dataset_config": config, "dataset_train_split": split,
                            "method": method}
    try:
        inspection = inspector(DatasetInspectInput(**base, model_name_or_path=model, max_length=max_length or 2048))
    except UserError as exc:
        if not model or "tokenizer" not in str(exc).lower():
            raise
        warnings.append(f"token lengths not measured ({exc}); estimating with {FALLBACK_TOKENS_PER_ROW} tokens "
                        "per row")
        inspection = inspector(DatasetInspectInput(**base))
    return inspection, warnings


def estimate_training(script_name: str, script_args: list[str], flavor: str | None, backend_name: str,
                      api: Any = None) -> Estimated:
    """Estimate a bundled training script's job from its own arguments on `flavor`; what fails becomes a warning."""
    from hf_trainer.estimate import EstimateRequest, make_request

    method = TRAINING_SCRIPTS[script_name]
    out = Estimated()
    try:
        values = script_arguments(script_name, script_args)
        if (entry := bundled(script_name)) is not None and entry.method_flag:
            method = values.get("method") or method
        model, dataset = values.get("model_name_or_path"), values.get("dataset_name")
        rows = mean = None
        if dataset:
            inspection, out.warnings = measure_data(
                method, model, dataset, config=values.get("dataset_config"),
                split=values.get("dataset_train_split"), max_length=values.get("max_length"))
            verdict = inspection.methods.get(method)
            if verdict is not None:
                out.dataset_verdict, out.dataset_reasons = verdict.verdict, list(verdict.reasons)
                out.suggested_mapping = verdict.mapping
            rows = inspection.source.num_rows or inspection.sample_rows
            stats = inspection.token_stats
            mean = stats.mean if stats and stats.mean else None
            if mean is None:
                mean = FALLBACK_TOKENS_PER_ROW
                if not out.warnings:
                    out.warnings.append(f"token lengths not measured; estimating with {FALLBACK_TOKENS_PER_ROW} "
                                        "tokens per row")
        settings = _estimator_settings(values, EstimateRequest)
        local = backend_name == "local"
        settings.update(method=method, num_rows=rows, mean_tokens_per_row=mean, max_hours=None, local=local,
                        push_to_hub=bool(values.get("push_to_hub")), flavors=None if local else [flavor or "cpu-basic"])
        result = estimator(make_request(**settings), api)
    except UserError as exc:
        out.warnings.append(f"not estimated ({exc}): the timeout and memory checks did not run")
        return out
    wanted = "local" if backend_name == "local" else (flavor or "cpu-basic")
    row = next((r for r in result.rows if r.flavor == wanted), None)
    out.result, out.row = result, row
    if row is None:
        out.warnings.append(f"not estimated on {wanted}: the estimator has no row for it")
        return out
    out.seconds = row.hours * 3600
    out.memory_detail = f"needs {row.memory_gib:.1f} GiB, has {row.memory_available_gib:.0f} GiB"
    if row.verdict == "does not fit":
        out.memory_fits = False
    elif row.verdict == "fits with changes":
        changes = list(getattr(row, "script_args", []) or [])
        missing = _missing_args(script_args, changes)
        if missing:
            out.memory_fits = False
            out.memory_detail += f"; it fits only with {' '.join(missing)} ({', '.join(row.changes)})"
        else:
            out.memory_fits = True
    else:
        out.memory_fits = True
    return out


_NOT_SETTINGS = {"dataset_name", "flavors", "local", "max_hours", "num_rows", "mean_tokens_per_row", "method",
                 "push_to_hub"}


def _estimator_settings(values: dict[str, Any], model: Any) -> dict[str, Any]:
    """The script's values the estimator models, in its types; a value it cannot take is left to its default."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    settings: dict[str, Any] = {}
    for name, value in values.items():
        field = model.model_fields.get(name)
        if field is None or value is None or name in _NOT_SETTINGS:
            continue
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # nargs='+' options such as --lora_target_modules all-linear
        try:
            kind: Any = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            settings[name] = TypeAdapter(kind).validate_python(value)
        except ValidationError:
            continue
    return settings


def _missing_args(script_args: list[str], changes: list[str]) -> list[str]:
    """The flags (with their values) of `changes` that `script_args` does not already set that way."""
    missing: list[str] = []
    i = 0
    while i < len(changes):
        flag = changes[i]
        value = changes[i + 1] if i + 1 < len(changes) and not changes[i + 1].startswith("--") else None
        i += 2 if value is not None else 1
        if value is None:
            if flag not in script_args:
                missing.append(flag)
            continue
        given = [script_args[j + 1] for j, a in enumerate(script_args[:-1]) if a == flag]
        given += [a.split("=", 1)[1] for a in script_args if a.startswith(flag + "=")]
        if not given or given[-1] != value:
            missing += [flag, value]
    return missing


# --- 3. preflight -------------------------------------------------------------------------------------------------


def preflight_job(request: JobRequest, backend_name: str, estimated: Estimated | None = None) -> PreflightReport:
    """Preflight a uv or command request as it would be submitted, with what the estimate found; the report names
    the job it describes (`checked`), so it approves only that job."""
    report = _lint_job(request, backend_name, estimated)
    return report.model_copy(update={"checked": checked_fields(resolve(request), backend_name)})


def _lint_job(request: JobRequest, backend_name: str, estimated: Estimated | None = None) -> PreflightReport:
    """Preflight a uv or command request as it would be submitted, with what the estimate found."""
    from hf_trainer.jobs.script_source import resolve_script

    est = estimated or Estimated()
    extras = {"estimated_seconds": est.seconds, "memory_fits": est.memory_fits, "memory_detail": est.memory_detail,
              "dataset_verdict": est.dataset_verdict, "dataset_reasons": est.dataset_reasons,
              "suggested_mapping": est.suggested_mapping}
    common: dict[str, Any] = {"env": request.env, "secrets": request.secrets, "backend": backend_name, "flavor": request.flavor,
              "timeout_seconds": request.timeout_seconds, **extras}
    if isinstance(request, UvJobRequest):
        source = resolve_script(request.script)
        if source.kind == "url":
            # The Hub fetches it; only the arguments and the job's settings can be checked here.
            job = PreflightInput(script_text=_COMMAND_STANDIN, script_name=source.name,
                                 script_args=request.script_args, **common)
            report = preflight(job)
            return _with_warnings(report, [f"the script at {source.url} is fetched by the job and was not linted "
                                           "(download it and pass the file to lint it)"])
        job = PreflightInput(script_text=source.text or "", script_name=source.name, script_args=request.script_args,
                             **common)
    else:
        job = PreflightInput(script_text=_COMMAND_STANDIN, script_name="command", script_args=request.command,
                             **common)
    report = _with_warnings(_with_token_fields(preflight(job), request), est.warnings)
    return _with_findings(report, data_findings(request))


def data_findings(request: JobRequest) -> list[Finding]:
    """A bundled training script's model and data, checked on the Hub with the job's own token (data_checks): what
    is missing, gated or absent (config, split, revision) is an error no route submits, even with force."""
    script = training_script(request)
    if script is None or not isinstance(request, UvJobRequest):
        return []
    try:
        values = script_arguments(script, request.script_args)
    except UserError:
        return []  # arguments that do not parse are preflight's to report
    method = TRAINING_SCRIPTS[script]
    if (entry := bundled(script)) is not None and entry.method_flag:
        method = values.get("method") or method
    return data_checker(values, job_token(request.secrets), method)


def _with_findings(report: PreflightReport, findings: list[Finding]) -> PreflightReport:
    if not findings:
        return report
    ok = report.ok and not any(f.severity == "error" for f in findings)
    return report.model_copy(update={"ok": ok, "findings": [*report.findings, *findings]})


def _with_token_fields(report: PreflightReport, request: JobRequest) -> PreflightReport:
    """The token rule over every other field of the request (labels, dependencies, launcher, image, volumes,
    namespace): preflight() read the script, its arguments, env and the secret names already."""
    from hf_trainer.tokens import request_token_fields

    fields = request_token_fields(request, skip=frozenset({"script", "script_args", "command", "env", "secrets"}))
    if not fields:
        return report
    finding = Finding(severity="error", rule="literal-token",
                      message=f"{', '.join(fields)} hold a Hugging Face token in plain text; every field of a job "
                              "but its secrets is stored and shown in the job's spec.",
                      fix='Remove it; pass the token as a secret instead: secrets {"HF_TOKEN": "$HF_TOKEN"}.')
    return report.model_copy(update={"ok": False, "findings": [*report.findings, finding]})


def checked_fields(request: JobRequest, backend_name: str) -> dict[str, object]:
    """What preflight reads of a request: a report describes exactly the job with these values."""
    words = request.script_args if isinstance(request, UvJobRequest) else request.command
    return {"backend": backend_name, "script": getattr(request, "script", None), "args": list(words),
            "flavor": request.flavor, "timeout_seconds": request.timeout_seconds, "env": sorted(request.env),
            "secrets": sorted(request.secrets), "image": getattr(request, "image", None),
            "namespace": getattr(request, "namespace", None)}


def _with_warnings(report: PreflightReport, warnings: list[str]) -> PreflightReport:
    if not warnings:
        return report
    extra = [Finding(severity="warning", rule="estimate", message=w[0].upper() + w[1:] + ".",
                     fix="Check time and memory with estimate_cost, and set timeout and flavor from it.")
             for w in dict.fromkeys(warnings)]
    return report.model_copy(update={"findings": [*report.findings, *extra]})


def gate(report: PreflightReport, *, force: bool, action: str = "Not submitted") -> None:
    """Refuse a job with preflight errors unless forced; a leaked secret is refused even when forced."""
    blocking = [f for f in report.errors if f.rule in UNFORCEABLE] if force else report.errors
    if not blocking:
        return
    unforceable = sorted({f.rule for f in report.errors if f.rule in UNFORCEABLE})
    if force:
        what = "the job would expose a secret" if "literal-token" in unforceable else \
            "the job could only fail: its model or data cannot be read as asked"
        raise UserError(f"{action}: {what} ({', '.join(unforceable)}), and force does not override that; "
                        f"{force_note()}.\n" + report.render())
    how = (f"; force does not pass {', '.join(unforceable)} ({force_note()})" if unforceable else
           " (force: true, or --force on the command line, submits anyway)")
    raise UserError(f"{action}: preflight found errors{how}.\n" + report.render())


def spend_check(request: JobRequest, backend: JobBackend, *, schedule: str | None = None,
                action: str = "Not submitted") -> budget.SpendCheck | None:
    """The budget (budget.py) against a request: UserError with the figures when its worst case (timeout x price, every
    run of `schedule` due this period) does not fit what is left; `force` never reaches it. None when no budget is set
    (the Hub is not asked) or the job is local."""
    return budget.check_spend(backend, flavor=request.flavor, timeout_seconds=request.timeout_seconds,
                              schedule=schedule, attempts=getattr(request, "attempts", None), action=action)


def with_budget(report: PreflightReport, backend: JobBackend, *, flavor: str | None,
                timeout_seconds: int | None) -> PreflightReport:
    """A plan's report with the budget left after its job (over budget: said, and refused at submission)."""
    try:
        spend = budget.assess_spend(backend, flavor=flavor, timeout_seconds=timeout_seconds)
    except UserError as exc:
        return _with_warnings(report, [f"budget not checked ({exc}); submitting checks it again"])
    return report.model_copy(update={"budget": spend})


def record_spend(job: JobInfo, request: JobRequest, backend: JobBackend) -> None:
    """Remember a Hub job's timeout and model repo for the ledger (the Hub keeps neither in its job record)."""
    if getattr(backend, "name", None) != "hub":
        return
    words = request.script_args if isinstance(request, UvJobRequest) else request.command
    try:
        ledger.record_job(job, route=request.labels.get("hf-trainer") or "hf_jobs", timeout_seconds=request.timeout_seconds,
                          model_repo=ledger.pushes_to(words))
    except OSError:
        pass  # an unwritable home loses the local record, not the job; the ledger then reads the job's labels


def check(request: JobRequest, backend: JobBackend, *, force: bool = False, estimate: bool = True,
          action: str = "Not submitted", schedule: str | None = None) -> tuple[JobRequest, PreflightReport]:
    """Resolve, estimate and preflight a request; UserError when it is refused. Returns (resolved request, report)."""
    request = resolve(request)
    name = backend.name
    script = training_script(request)
    estimated = None
    if estimate and script is not None and isinstance(request, UvJobRequest):
        estimated = estimate_training(script, request.script_args, request.flavor, name, getattr(backend, "api", None))
    elif estimate:  # scripts/benchmark.py alone: priced from its own arguments too (benchmark_plan.py)
        from hf_trainer.benchmark_plan import estimated_job

        estimated = estimated_job(request, name, getattr(backend, "api", None))
    report = preflight_job(request, name, estimated)
    gate(report, force=force, action=action)
    report = report.model_copy(update={"budget": spend_check(request, backend, schedule=schedule, action=action)})
    # The job remembers how it was submitted (timeout, flavor, arguments, estimate): its labels survive on the Hub.
    return with_record(request, script, estimated.seconds if estimated else None), report


# --- 4. submit ----------------------------------------------------------------------------------------------------


def card_env(request: R, backend: JobBackend) -> R:
    """A bundled training script on the Hub writes its job's link and flavor into the model card: give it both."""
    if getattr(backend, "name", None) != "hub" or training_script(request) is None:
        return request
    hub = cast("HubBackend", backend)  # name == "hub": the Hub backend, whose namespace the card links to
    env = {"HF_TRAINER_NAMESPACE": hub.namespace(getattr(request, "namespace", None)),
           "HF_TRAINER_FLAVOR": request.flavor or "cpu-basic", **request.env}
    return cast(R, request.model_copy(update={"env": env}))


def for_backend(request: JobRequest, backend: JobBackend) -> JobRequest:
    """The backend-neutral part of a request for the local backend (Hub-only options refused, not dropped)."""
    if getattr(backend, "name", None) == "hub":
        return request
    extras = [name for name in ("volumes", "attempts", "namespace") if getattr(request, name, None)]
    if extras:
        raise UserError(f"{', '.join(extras)} only apply to Hugging Face Jobs; the local backend cannot use them. "
                        "Remove them, or use backend 'hub'.")
    base = UvJobRequest if isinstance(request, UvJobRequest) else CommandJobRequest
    return base.model_validate(request.model_dump(include=set(base.model_fields)))


def submit(request: JobRequest, backend: JobBackend, *, force: bool = False, report: PreflightReport | None = None,
           action: str = "Not submitted") -> tuple[JobInfo, PreflightReport]:
    """The whole pipeline for one job; `report` skips the checks when the caller ran them already (train)."""
    if report is None or report.checked != checked_fields(resolve(request), getattr(backend, "name", "hub")):
        # No report, or one made for another job (a plan whose flavor, arguments or secrets changed since): check
        # the job that is sent, never approve it with another's report.
        request, report = check(request, backend, force=force, action=action)
    else:
        request = resolve(request)
        gate(report, force=force, action=action)
        report = report.model_copy(update={"budget": spend_check(request, backend, action=action)})
        request = with_record(request, training_script(request))
    request = for_backend(card_env(request, backend), backend)
    from hf_trainer.tokens import refuse_tokens_in_request

    refuse_tokens_in_request(request)  # a reused report may predate a field; force never passes a token
    job = backend.uv(request) if isinstance(request, UvJobRequest) else backend.run(request)
    record_spend(job, request, backend)
    return job, report


def token_secret(backend: JobBackend) -> dict[str, str]:
    """The caller's token as the training job's HF_TOKEN secret (pushes, gated models and datasets): always on the Hub;
    locally when there is a token, since local jobs no longer inherit the server's environment (issue 21)."""
    from hf_trainer.tokens import caller_token

    if getattr(backend, "name", None) == "hub" or caller_token():
        return {"HF_TOKEN": "$HF_TOKEN"}
    return {}


def training_request(script: str, script_args: list[str], backend: JobBackend, *, flavor: str | None,
                     timeout_seconds: int | None, labels: dict[str, str] | None = None,
                     dependencies: list[str] | None = None, env: dict[str, str] | None = None,
                     namespace: str | None = None) -> UvJobRequest:
    """The one job train, rerun and retry plan, check and send: a bundled script with arguments, the caller's token
    as its HF_TOKEN secret (token_secret), flavor, timeout and labels; `namespace` (an organisation, which is then
    billed) runs it there."""
    fields: dict[str, Any] = dict(
        script=str(paths.bundled_script(script)), script_args=list(script_args), secrets=token_secret(backend),
        labels=dict(labels or {}), flavor=flavor, timeout_seconds=timeout_seconds,
        dependencies=list(dependencies or []), env=dict(env or {}))
    if namespace:
        return HubUvJobRequest(**fields, namespace=namespace)
    return UvJobRequest(**fields)


def submit_training(script: str, script_args: list[str], backend: JobBackend, *, flavor: str | None,
                    timeout_seconds: int | None, labels: dict[str, str], force: bool = False,
                    report: PreflightReport | None = None, action: str = "Not submitted",
                    dependencies: list[str] | None = None, env: dict[str, str] | None = None,
                    namespace: str | None = None) -> tuple[JobInfo, PreflightReport]:
    """train, rerun and retry: a bundled training script with arguments, submitted through the same pipeline. A
    `report` from `lint_training` is reused only when it describes this very job (else the job is checked anew)."""
    request = training_request(script, script_args, backend, flavor=flavor, timeout_seconds=timeout_seconds,
                               labels=labels, dependencies=dependencies, env=env, namespace=namespace)
    return submit(request, backend, force=force, report=report, action=action)


def lint_training(script: str, script_args: list[str], backend: JobBackend, *, flavor: str | None,
                  timeout_seconds: int | None) -> PreflightReport:
    """The preflight (with the estimate) of the job `submit_training` sends with the same values; never refuses."""
    request = training_request(script, script_args, backend, flavor=flavor, timeout_seconds=timeout_seconds)
    name = getattr(backend, "name", "hub")
    estimated = estimate_training(script, request.script_args, flavor, name, getattr(backend, "api", None)) \
        if script in TRAINING_SCRIPTS else None
    return with_budget(preflight_job(request, name, estimated), backend, flavor=flavor, timeout_seconds=timeout_seconds)
