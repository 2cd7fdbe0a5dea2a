"""Standard benchmarks before and after: the harness's scores reduced to one table, the verdict per task, the model
card section and results/benchmark.json.

scripts/benchmark.py runs EleutherAI's lm-evaluation-harness (`lm_eval`) on a model, and on its base with
--baseline_model; this module reads what the harness returns (`results`, `group_subtasks`, `higher_is_better`,
`n-samples`, `n-shot`, `versions`) and turns it into numbers a person can act on. Standard library only (inlined into
the script by `make sync-scripts`): the harness itself is imported by the script, never here.

A difference counts as a regression (or a gain) when it is larger than its standard error: the square root of the
two models' squared standard errors, as the harness reports them per task. Both models answer the same questions, so
this treats them as independent samples and is conservative; "within noise" means the run cannot tell.
"""

import json
import math

CARD_START = "<!-- hf-trainer:benchmark:start -->"
CARD_END = "<!-- hf-trainer:benchmark:end -->"
RESULTS_FILE = "results/benchmark.json"
HARNESS = "EleutherAI lm-evaluation-harness"
HARNESS_URL = "https://github.com/EleutherAI/lm-evaluation-harness"

REGRESSED, IMPROVED, WITHIN_NOISE, NO_STDERR = "regressed", "improved", "within noise", "no standard error"


def _number(value) -> float | None:
    """A harness value as a float, or None for its "N/A" and for anything not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def top_level_tasks(output: dict) -> list[str]:
    """The tasks and groups a person asked for, in the harness's order: every entry of `results` that is not a
    member of a group that is itself reported (mmlu, not its 57 subjects)."""
    members = {child for children in (output.get("group_subtasks") or {}).values() for child in children}
    return [name for name in output.get("results") or {} if name not in members]


def task_scores(output: dict) -> dict[str, dict]:
    """{task: {"samples": n, "num_fewshot": k, "version": v, "metrics": {metric: {"value", "stderr",
    "higher_is_better"}}}} for the top-level tasks of one harness run. A metric key is the harness's
    "metric,filter" ("exact_match,flexible-extract"); the filter "none" is dropped ("acc")."""
    results = output.get("results") or {}
    better = output.get("higher_is_better") or {}
    samples = output.get("n-samples") or {}
    shots = output.get("n-shot") or {}
    versions = output.get("versions") or {}
    scores = {}
    for task in top_level_tasks(output):
        entry = results[task]
        metrics = {}
        for key, value in entry.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, _, filter_name = key.partition(",")
            if _number(value) is None:
                continue
            name = metric if filter_name in ("", "none") else f"{metric} ({filter_name})"
            metrics[name] = {"value": float(value),
                             "stderr": _number(entry.get(f"{metric}_stderr,{filter_name}")),
                             "higher_is_better": bool((better.get(task) or {}).get(metric, True))}
        count = (samples.get(task) or {}).get("effective") or entry.get("sample_len")
        scores[task] = {"samples": count, "num_fewshot": shots.get(task), "version": versions.get(task),
                        "metrics": metrics}
    return scores


def verdict(difference: float | None, stderr: float | None, higher_is_better: bool) -> str:
    """regressed / improved when the difference is beyond its standard error, else within noise."""
    if difference is None:
        return NO_STDERR
    if stderr is None:
        return NO_STDERR if difference else WITHIN_NOISE
    if abs(difference) <= stderr:
        return WITHIN_NOISE
    return IMPROVED if (difference > 0) == higher_is_better else REGRESSED


def compare_scores(base: dict, tuned: dict) -> list[dict]:
    """One row per task and metric both runs report: base, fine-tuned, difference (fine-tuned minus base), the
    standard error of the difference and the verdict."""
    rows = []
    for task, tuned_task in tuned.items():
        base_task = base.get(task)
        if not base_task:
            continue
        for metric, t in tuned_task["metrics"].items():
            b = base_task["metrics"].get(metric)
            if b is None:
                continue
            difference = t["value"] - b["value"]
            errors = [e for e in (b["stderr"], t["stderr"]) if e is not None]
            stderr = math.sqrt(sum(e * e for e in errors)) if len(errors) == 2 else None
            rows.append({"task": task, "metric": metric, "base": b["value"], "fine_tuned": t["value"],
                         "difference": difference, "stderr": stderr, "higher_is_better": t["higher_is_better"],
                         "verdict": verdict(difference, stderr, t["higher_is_better"])})
    return rows


def _value(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def comparison_table(rows: list[dict], base_name: str = "base", tuned_name: str = "fine-tuned") -> str:
    """task | metric | base | fine-tuned | difference | std. error | verdict; regressions in bold."""
    lines = [f"| task | metric | {base_name} | {tuned_name} | difference | std. error | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        mark = f"**{row['verdict']}**" if row["verdict"] == REGRESSED else row["verdict"]
        note = "" if row["higher_is_better"] else " (lower is better)"
        lines.append(f"| {row['task']} | {row['metric']}{note} | {_value(row['base'])} | {_value(row['fine_tuned'])} "
                     f"| {row['difference']:+.4f} | {_value(row['stderr'])} | {mark} |")
    return "\n".join(lines)


def scores_table(scores: dict) -> str:
    """task | metric | value | std. error, for one model."""
    lines = ["| task | metric | value | std. error |", "|---|---|---|---|"]
    for task, entry in scores.items():
        for metric, m in entry["metrics"].items():
            note = "" if m["higher_is_better"] else " (lower is better)"
            lines.append(f"| {task} | {metric}{note} | {_value(m['value'])} | {_value(m['stderr'])} |")
    return "\n".join(lines)


def regressions(rows: list[dict]) -> list[str]:
    """"task metric" for every row the fine-tune lost beyond its standard error."""
    return [f"{row['task']} {row['metric']}" for row in rows if row["verdict"] == REGRESSED]


def card_section(benchmark: dict) -> str:
    """The model card's benchmark section, between markers so that a later run replaces it."""
    main = benchmark.get("fine_tuned") or benchmark.get("model") or {}
    setup = [f"{benchmark.get('harness_version') or 'lm_eval'}", f"{benchmark.get('engine') or '?'} engine",
             "chat template " + ("on" if main.get("chat_template") else "off")]
    if benchmark.get("num_fewshot") is not None:
        setup.append(f"{benchmark['num_fewshot']}-shot")
    else:
        setup.append("each task's own number of few-shot examples")
    lines = [CARD_START, "## Standard benchmarks", ""]
    if benchmark.get("comparison") is not None:
        lines += [f"General ability before and after fine-tuning: `{benchmark.get('base_name')}` (base) and this "
                  f"model, on the same questions, with [{HARNESS}]({HARNESS_URL}) ({', '.join(setup)}), by "
                  "hf-trainer's scripts/benchmark.py.", ""]
        lines += [comparison_table(benchmark["comparison"], "base", "fine-tuned"), ""]
        if (benchmark.get("base") or {}).get("chat_template") != main.get("chat_template"):
            lines += ["The base model was scored " + ("with" if benchmark["base"].get("chat_template") else "without")
                      + " a chat template and this model " + ("with" if main.get("chat_template") else "without")
                      + ": part of any difference is the prompt format.", ""]
        lost = regressions(benchmark["comparison"])
        lines += [("Regressed beyond the standard error: " + ", ".join(lost) + ".") if lost else
                  "No task regressed beyond its standard error.", "",
                  "A difference is marked when it is larger than its standard error (the square root of both "
                  "models' squared standard errors, as the harness reports them); within noise, this run cannot "
                  "tell the two models apart.", ""]
    else:
        lines += [f"Scored with [{HARNESS}]({HARNESS_URL}) ({', '.join(setup)}), by hf-trainer's "
                  "scripts/benchmark.py.", "", scores_table(main.get("scores") or {}), ""]
    if benchmark.get("limit") is not None:
        lines += [f"Limited to {benchmark['limit']} examples per task: compare these numbers with each other, not "
                  "with published scores.", ""]
    lines += [f"Every number, with each task's version and sample count: `{RESULTS_FILE}`.", "", CARD_END]
    return "\n".join(lines) + "\n"


def replace_card_section(card: str, section: str) -> str:
    """The card with its benchmark section replaced, or appended when it has none (the rest stays as it was)."""
    if CARD_START in card and CARD_END in card:
        head, _, rest = card.partition(CARD_START)
        _, _, tail = rest.partition(CARD_END)
        return head + section.rstrip("\n") + tail
    return card.rstrip("\n") + "\n\n" + section


def result_files(benchmark: dict) -> dict[str, str]:
    """{relative path: text} to write into the model folder and push with it."""
    return {RESULTS_FILE: json.dumps(benchmark, indent=2, default=str) + "\n"}
