"""scripts/benchmark.py planned like training: priced on a flavor, added after a `train` run, checked when sent alone.

- The price: runtime/benchmark_cost.py (the harness's work per task, prompt passes and decoding, vLLM or
  transformers) for the script's own arguments, read with its own parser.
- Alone (`hf_jobs uv` / `hf-trainer jobs uv scripts/benchmark.py ...`): the submit pipeline asks `estimate_request`
  for the job's time, so the timeout and memory checks apply as they do to a training script.
- After training (`train` with benchmark_tasks): `plan_after_training` builds the benchmark job (the pushed model
  against its base, on the training flavor, vLLM where it runs), prices it, preflights it, and `follow_up_env` hands
  it to the training job, which sends it when it succeeds (runtime/follow_up.py). HF Jobs cannot start one job after
  another, and the training process still holds the GPU, so the benchmark gets a machine of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from hf_trainer.errors import UserError
from hf_trainer.runtime.benchmark_cost import BenchmarkEstimate, benchmark_estimate
from hf_trainer.runtime.estimate_math import ModelFacts
from hf_trainer.runtime.follow_up import FOLLOW_UP_ENV

SCRIPT = "benchmark.py"


def vllm_requirement() -> str:
    """The vLLM the docs add to benchmark.py (`--with`), as the pins check resolves it with the header."""
    from hf_trainer.pins import DOCUMENTED_EXTRAS

    return DOCUMENTED_EXTRAS[SCRIPT][0]


def default_tasks() -> list[str]:
    """The default suite: benchmark.py's own --tasks default."""
    from hf_trainer.script_defaults import script_defaults

    return [t.strip() for t in str(script_defaults(SCRIPT)["tasks"]).split(",") if t.strip()]


def parse_tasks(text: str) -> list[str]:
    """'default' (the script's default suite) or comma-separated harness task names."""
    if text.strip().lower() == "default":
        return default_tasks()
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    if not tasks:
        raise UserError(f"benchmark_tasks {text!r} names no task: give harness task names such as "
                        f"'{','.join(default_tasks())}', or 'default'.")
    bad = [t for t in tasks if not all(c.isalnum() or c in "_-." for c in t)]
    if bad:
        raise UserError(f"benchmark_tasks: {bad[0]!r} is not a task name (letters, digits, '_', '-', '.'). Local task "
                        "files only work with scripts/benchmark.py run by hand (--include_path).")
    return tasks


def _flavor(name: str | None, backend_name: str, api: Any) -> Any:
    if backend_name == "local":
        from hf_trainer.estimate import local_flavor

        return local_flavor()
    from hf_trainer.hardware import check_flavor, load_catalog

    return check_flavor(name or "cpu-basic", load_catalog(api))


def price(model: str, flavor: str | None, tasks: list[str], *, baseline: str | None = None, use_vllm: bool,
          limit: int | float | None = None, backend_name: str = "hub", api: Any = None,
          facts: ModelFacts | None = None) -> BenchmarkEstimate:
    """benchmark.py's time and cost for `model` (and `baseline`) on `flavor`; `facts` when the caller measured the
    model already. An adapter has no size of its own: its base (the baseline) is measured instead."""
    from hf_trainer.estimate import load_profile
    from hf_trainer.model_size import model_facts

    if facts is None:
        try:
            facts = model_facts(model, api=api)
        except UserError:
            if not baseline:
                raise
            facts = model_facts(baseline, api=api)
    return benchmark_estimate(facts, _flavor(flavor, backend_name, api), tasks, models=2 if baseline else 1,
                              use_vllm=use_vllm, limit=limit, profile=load_profile(), local=backend_name == "local")


def is_benchmark(script: str) -> bool:
    """Whether a job's script (a path or inline text) is the bundled benchmark.py (by name and content)."""
    from hf_trainer.jobs.script_source import bundled_copy

    text: str | None = script
    if "\n" not in script:
        path = Path(os.path.expanduser(script.strip()))
        if path.name != SCRIPT or not path.is_file():
            return False
        text = path.read_text(encoding="utf-8")
    return bundled_copy(text) == SCRIPT


def estimate_request(request: Any, backend_name: str, api: Any = None) -> tuple[BenchmarkEstimate | None, list[str]]:
    """The submit pipeline's estimate of a benchmark.py job from its own arguments: (estimate, warnings); (None, [])
    for any other job."""
    from hf_trainer.jobs.submit import script_arguments

    script = getattr(request, "script", None)
    if not script or not is_benchmark(script):
        return None, []
    try:
        values = script_arguments(SCRIPT, list(request.script_args))
        use_vllm = values.get("engine") != "transformers" and any(
            str(dep).replace(" ", "").lower().startswith("vllm") for dep in getattr(request, "dependencies", []))
        estimate = price(values["model_name_or_path"], request.flavor, list(values["tasks"]),
                         baseline=values.get("baseline_model"), use_vllm=use_vllm, limit=values.get("limit"),
                         backend_name=backend_name, api=api)
    except (UserError, KeyError, TypeError) as exc:
        return None, [f"benchmark not estimated ({exc}): the timeout and memory checks did not run"]
    return estimate, list(estimate.assumed)


# --- after training -------------------------------------------------------------------------------------------------


class BenchmarkPlan(BaseModel):
    """The benchmark job `train` adds after training: what it runs, where, for how long, at what price."""

    tasks: list[str]
    script: str = SCRIPT
    script_args: list[str]
    flavor: str | None
    engine: str = Field(description="vllm or transformers")
    dependencies: list[str] = Field(default_factory=list)
    estimated_hours: float
    estimated_cost_usd: float
    timeout_seconds: int
    labels: dict[str, str] = Field(default_factory=dict)
    text: str = Field(description="The plan's line: what runs after training and what it costs.")


def plan_after_training(model: str, hub_model_id: str | None, tasks_text: str, backend: Any, *, flavor: str | None,
                        labels: dict[str, str] | None = None, num_params: int | None = None,
                        active_params: int | None = None) -> BenchmarkPlan:
    """The benchmark job for a training run: the pushed model against `model` (its base), on the training flavor;
    `num_params` (and `active_params`) as the training estimate measured them."""
    from hf_trainer.runtime.vocabulary import timeout_seconds
    from hf_trainer.timeouts import format_duration

    if getattr(backend, "name", "hub") != "hub" or not hub_model_id:
        raise UserError("benchmark_tasks runs a benchmark job after training on the Hub (backend 'hub' with "
                        "hub_model_id). For a local run, start scripts/benchmark.py on the output folder when it "
                        "ends: uv run scripts/benchmark.py --model_name_or_path <folder> --baseline_model <base>.")
    tasks = parse_tasks(tasks_text)
    facts = ModelFacts(num_params=num_params, num_active_params=active_params or num_params,
                       source="the training estimate") if num_params else None
    estimate = price(model, flavor, tasks, baseline=model, use_vllm=True, api=getattr(backend, "api", None),
                     facts=facts)
    dependencies = [vllm_requirement()] if estimate.engine == "vllm" else []
    args = ["--model_name_or_path", hub_model_id, "--baseline_model", model, "--tasks", ",".join(tasks),
            "--push_to_hub", "--json"]
    hours = estimate.seconds / 3600
    text = (f"{', '.join(tasks)} on {hub_model_id} and {model}, after training: ~{format_duration(estimate.seconds)}, "
            f"~${estimate.cost_usd:.2f} (in the cost above) on {flavor} ({estimate.engine}); a second job, sent by the "
            "training job when it succeeds; the table goes on the model card")
    return BenchmarkPlan(tasks=tasks, script_args=args, flavor=flavor, engine=estimate.engine,
                         dependencies=dependencies, estimated_hours=hours, estimated_cost_usd=estimate.cost_usd,
                         timeout_seconds=timeout_seconds(estimate.seconds),
                         labels={"hf-trainer": "benchmark", **{k: v for k, v in (labels or {}).items()
                                                               if k == "model-repo"}},
                         text=text)


def benchmark_request(plan: BenchmarkPlan, backend: Any) -> Any:
    """The benchmark job as a uv request, like any bundled script's (the caller's token as its HF_TOKEN secret)."""
    from hf_trainer import paths
    from hf_trainer.jobs.base import UvJobRequest
    from hf_trainer.jobs.submit import token_secret

    return UvJobRequest(script=str(paths.bundled_script(plan.script)), script_args=list(plan.script_args),
                        dependencies=list(plan.dependencies), secrets=token_secret(backend), labels=dict(plan.labels),
                        flavor=plan.flavor, timeout_seconds=plan.timeout_seconds)


def preflight(plan: BenchmarkPlan, backend: Any) -> Any:
    """The benchmark job's own preflight (with its estimate), as the pipeline would run it alone."""
    from hf_trainer.jobs.submit import Estimated, preflight_job

    return preflight_job(benchmark_request(plan, backend), getattr(backend, "name", "hub"),
                         Estimated(seconds=plan.estimated_hours * 3600))


def follow_up_env(plan: BenchmarkPlan, backend: Any) -> dict[str, str]:
    """{HF_TRAINER_FOLLOW_UP: the benchmark job's spec as JSON}, for the training job's environment. Built by the Hub
    backend exactly as it would send the job (command, shipped script, image, flavor, timeout, labels), less its
    secrets: the training job adds its own HF_TOKEN when it sends it. Never holds a token."""
    from hf_trainer.tokens import caller_token

    spec = dict(backend._uv_spec(benchmark_request(plan, backend)))  # the backend's own job shape, not a copy
    spec.pop("secrets", None)
    spec["namespace"] = backend.namespace(None)
    spec["description"] = f"the benchmark job ({', '.join(plan.tasks)})"
    text = json.dumps(spec, separators=(",", ":"), default=str)
    token = caller_token()
    if token and token in text:
        raise UserError("The benchmark job's description would carry your token; not planned. Report this.")
    return {FOLLOW_UP_ENV: text}


def estimated_job(request: Any, backend_name: str, api: Any = None) -> Any:
    """The pipeline's Estimated for a benchmark.py job (time, memory fit, warnings), or None for any other job."""
    from hf_trainer.jobs.submit import Estimated

    estimate, warnings = estimate_request(request, backend_name, api)
    if estimate is None and not warnings:
        return None
    if estimate is None:
        return Estimated(warnings=warnings)
    return Estimated(seconds=estimate.seconds, memory_fits=estimate.fits, warnings=warnings,
                     memory_detail=None if estimate.fits else "the model's 16-bit weights do not fit with room to run")


# The flavors and model sizes references/evaluation.md prices the default suite on (a test keeps the table true).
DOC_FLAVORS = ("l4x1", "a10g-large", "a100-large", "h200")
DOC_SIZES = (("0.5B", 494_000_000), ("1.5B", 1_540_000_000), ("7B", 7_620_000_000))


def default_suite_table_markdown() -> str:
    """The default suite before and after (two models) per flavor and model size, with vLLM, from the fallback
    price list: minutes and dollars, start-up included."""
    from hf_trainer.runtime.estimate_math import facts_from_count, fallback_catalog

    catalog = fallback_catalog()
    flavors = [flavor for name in DOC_FLAVORS if (flavor := catalog.get(name)) is not None]
    tasks = default_tasks()
    lines = ["| model | " + " | ".join(f"{f.name} (${f.price_per_hour:.2f}/h)" for f in flavors) + " |",
             "|---|" + "---|" * len(flavors)]
    for label, count in DOC_SIZES:
        cells = []
        for flavor in flavors:
            e = benchmark_estimate(facts_from_count(count), flavor, tasks, use_vllm=True)
            cells.append(f"{e.seconds / 60:.0f} min, ${e.cost_usd:.2f}" if e.fits else "does not fit")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
