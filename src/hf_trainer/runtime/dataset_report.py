"""The inspection report over runtime/dataset_formats.py's rules: token statistics, the whole analysis of a sample
(`analyse(rows, mappings, tokenizer=None, max_length=None, method=None)`) and its text (`render(report)`).

Inspection only (dataset_inspect, scripts/inspect_dataset.py): the training scripts check their rows with
dataset_formats.method_verdict and do not carry this module or the vision report it calls.
"""

import math
from typing import Any, Callable

from .dataset_formats import (INCOMPATIBLE, KIND_TEXT, check_rows, dataset_kind, detect_row, dropped_columns,
                              format_row, read_chat_template, template_problem, verdicts)
from .image_rows import rows_have_images
from .vision import analyse_vision, render_vision
from .vocabulary import METHODS

# --- token statistics ------------------------------------------------------------------------------------------


def _percentile(sorted_values: list[int], share: float) -> int:
    """Nearest-rank percentile (no interpolation: a token count is an integer)."""
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def token_stats(rows: list[dict], tokenizer: Any, max_length: int | None) -> dict:
    """Token lengths of the formatted rows: mean, percentiles, max, and the share `max_length` would truncate."""
    lengths, failures = [], []
    for index, row in enumerate(rows):
        try:
            text = format_row(row, tokenizer)
        except (ValueError, KeyError, TypeError) as exc:
            failures.append({"row": index, "error": str(exc)})
            continue
        # The chat template already adds special tokens; plain text gets the tokenizer's own (e.g. BOS).
        lengths.append(len(tokenizer(text, add_special_tokens=not _is_templated(row))["input_ids"]))
    stats: dict[str, Any] = {"rows": len(lengths), "failures": failures[:5], "max_length": max_length}
    if lengths:
        ordered = sorted(lengths)
        stats.update(
            mean=round(sum(ordered) / len(ordered), 1),
            p50=_percentile(ordered, 0.5), p90=_percentile(ordered, 0.9), p95=_percentile(ordered, 0.95),
            p99=_percentile(ordered, 0.99), max=ordered[-1], min=ordered[0],
        )
        if max_length:
            stats["truncated_share"] = round(sum(1 for n in ordered if n > max_length) / len(ordered), 4)
    return stats


def _is_templated(row: dict) -> bool:
    return bool(detect_row(row)[1])


# --- the whole analysis ----------------------------------------------------------------------------------------


def analyse(rows: list[dict], mappings: dict[str, Callable[[dict], dict]], tokenizer: Any = None,
            max_length: int | None = None, method: str | None = None,
            mapping_source: Callable[[str], str] | None = None, chat_template: str | None = None) -> dict:
    """Detect the format of sample rows, check their values, give per-method verdicts with validated mappings and,
    with a tokenizer, token statistics for `method` (default: the first of SFT, DPO, GRPO, reward, KTO that can use
    the data). `chat_template` (a name such as chatml, or a Jinja file) replaces the tokenizer's, as train_sft.py
    --chat_template does. `mappings` and `mapping_source` come from hf_trainer.runtime.mappings."""
    if not rows:
        raise ValueError("no rows to inspect")
    if rows_have_images(rows):  # runtime/vision.py: READY only for a model that sees images, via train_vlm.py
        return analyse_vision(rows, tokenizer, max_length)
    kind, conversational = dataset_kind(rows)
    issues = check_rows(rows, kind, conversational)
    per_method, checked = verdicts(rows, mappings)
    report: dict[str, Any] = {
        "kind": kind,
        "kind_text": KIND_TEXT[kind],
        "conversational": conversational,
        "columns": sorted({column for row in rows for column in row}),
        "sample_rows": len(rows),
        "issues": issues,
        "methods": per_method,
        "mappings": {},
        "chat_template": None,
        "chat_template_used": None,
        "token_stats": None,
    }
    for name, result in checked.items():
        report["mappings"][name] = {key: value for key, value in result.items() if key != "rows"}
        report["mappings"][name]["source"] = mapping_source(name) if mapping_source else None
    if tokenizer is not None:
        report["chat_template"] = bool(getattr(tokenizer, "chat_template", None))
        if chat_template:
            tokenizer.chat_template = read_chat_template(chat_template)
            report["chat_template_used"] = chat_template
        elif report["chat_template"]:
            report["chat_template_used"] = "model"
        # Every method that could train is checked against the template: READY must mean its script trains.
        formatted_by_method = {}
        for name, entry in per_method.items():
            if entry["verdict"] == INCOMPATIBLE:
                continue
            drop = dropped_columns(name, report["columns"])
            view = [{key: value for key, value in row.items() if key not in drop} for row in rows]
            formatted = checked[entry["mapping"]]["rows"] if entry["mapping"] else view
            formatted_by_method[name] = formatted
            if not (formatted and detect_row(formatted[0])[1]):
                continue
            reason = template_problem(formatted, tokenizer)
            if reason is None:
                continue
            if not any(issue["message"] == reason for issue in report["issues"]):
                report["issues"].insert(0, {"severity": "error", "column": "*", "count": len(rows), "rows": [],
                                            "message": reason})
            entry.update(verdict=INCOMPATIBLE, mapping=None, reasons=entry["reasons"] + [f"but {reason}"])
        target = method or next((m for m in METHODS if per_method[m]["verdict"] != INCOMPATIBLE), None)
        if target is not None and target in formatted_by_method:
            report["token_stats"] = dict(token_stats(formatted_by_method[target], tokenizer, max_length),
                                         method=target)
    return report


# --- text ------------------------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """Concise, actionable text for a report from `analyse` (plus the source fields that the caller adds)."""
    lines = []
    source = report.get("source") or {}
    where = source.get("dataset_name", "dataset")
    parts = [part for part in (source.get("config"), source.get("split")) if part]
    split = f" [{'/'.join(parts)}]" if parts else ""
    total = source.get("num_rows")
    size = f", {total:,} rows{'' if source.get('num_rows_exact', True) else ' (estimated)'}" if total else ""
    lines.append(f"{where}{split}{size}: {report['kind_text']}"
                 + ("" if report["conversational"] is None else
                    (", conversational" if report["conversational"] else ", standard"))
                 + f" (from {report['sample_rows']} sample rows"
                 + (f": {source['sampled_from']}" if source.get("sampled_from") else "")
                 + f"; columns: {', '.join(report['columns'])})")
    for method in METHODS:
        entry = report["methods"][method]
        mapping = f" -> --dataset_mapping {entry['mapping']}" if entry["mapping"] else ""
        lines.append(f"  {method.upper():<6} {entry['verdict']}{mapping}: {'; '.join(entry['reasons'])}")
    for issue in report["issues"][:8]:
        more = ", ..." if issue["count"] > len(issue["rows"]) else ""
        rows = f" (row{'s' if issue['count'] > 1 else ''} {', '.join(map(str, issue['rows']))}{more})"
        lines.append(f"  {issue['severity']}: {issue['column']} {issue['message']}, in {issue['count']} sample "
                     f"row{'s' if issue['count'] > 1 else ''}" + (rows if issue["rows"] else ""))
    if len(report["issues"]) > 8:
        lines.append(f"  ... {len(report['issues']) - 8} more issue(s) in the structured result")
    for name, result in report["mappings"].items():
        if result["validated"]:
            lines.append(f"  mapping {name}: run on {result['rows_checked']} sample rows and re-validated as "
                         f"{KIND_TEXT.get(result['kind'] or 'unknown')}; pass --dataset_mapping {name} to the "
                         "training script (its source is in the structured result)")
        else:
            lines.append(f"  mapping {name}: NOT usable on this sample (see the reasons above)")
    stats = report.get("token_stats")
    if stats and stats.get("rows"):
        # TRL's RewardTrainer drops pairs longer than max_length instead of truncating them.
        fate = " (dropped by the reward trainer)" if stats["method"] == "reward" else ""
        truncated = (f", {stats['truncated_share']:.1%} longer than max_length {stats['max_length']}{fate}"
                     if stats.get("truncated_share") is not None else "")
        lines.append(f"  tokens per row ({stats['method'].upper()} format): mean {stats['mean']}, p50 {stats['p50']}, "
                     f"p95 {stats['p95']}, max {stats['max']}{truncated}")
        if (stats.get("truncated_share") or 0) > 0.05:
            lines.append(f"  advice: max_length {stats['max_length']} is shorter than many rows (their ends, the "
                         "answers, are lost); "
                         f"--max_length {stats['p99']} keeps 99% of the sample whole")
    if source.get("truncated_cells"):
        lines.append(f"  note: the dataset viewer shortened {source['truncated_cells']} cells of the sample; token "
                     "lengths are lower bounds")
    if source.get("oversized_rows"):
        lines.append(f"  note: {source['oversized_rows']} row(s) longer than {source.get('row_byte_cap', 0):,} bytes "
                     "were counted but not read (the cap per row); check them separately")
    if report.get("chat_template") is not None:
        used = report.get("chat_template_used")
        lines.append(f"  tokenizer chat template: {'yes' if report['chat_template'] else 'NO'}; rows rendered with: "
                     + ("the model's" if used == "model" else used or "none (train_sft.py --chat_template chatml "
                        "gives a base model one)"))
    lines += render_vision(report)
    return "\n".join(lines)
