"""Evaluate a causal LM on held-out rows: loss, perplexity, a task metric, sample generations; compare two models.

Standard library at the top on purpose: this module is inlined verbatim into scripts/evaluate.py and the training
scripts (`--eval_baseline`), because HF Jobs runs a single file. torch, transformers and peft are imported inside the
functions that need them. Rows may be chat (`messages`), prompt/completion (strings or messages), question/prompt with
an answer column, or plain `text`; the loss counts only completion tokens when a row has a prompt.

Public API (stable): `add_eval_arguments(parser)`, `split_row(row, answer_column)`,
`evaluate_model(model, tokenizer, rows, ...)`, `compare(base, tuned)`, `comparison_table(...)`, `card_section(...)`,
`upsert_card_section(card, section)`, `result_files(evaluation)`, `baseline_then_compare(...)`,
`baseline_if_asked(args, train_dataset, eval_dataset, model_init_kwargs)`.
"""

import json
import math
import re

from .rewards import answers_match, extract_answer, reference_answer
from .basics import is_main_process

ANSWER_COLUMNS = ("answer", "solution", "ground_truth", "reference", "target")
EVAL_PROMPT_COLUMNS = ("prompt", "question", "instruction", "input", "query", "problem")
CARD_START = "<!-- hf-trainer:evaluation:start -->"
CARD_END = "<!-- hf-trainer:evaluation:end -->"
# Metrics compared between a base and a fine-tuned model; for the first two lower is better.
COMPARED = ("loss", "perplexity", "exact_match", "accuracy")
LOWER_IS_BETTER = {"loss", "perplexity"}


def add_eval_arguments(parser, baseline: bool = True) -> None:
    """Evaluation options shared by scripts/evaluate.py and (with `baseline`) the training scripts."""
    group = parser.add_argument_group("evaluation")
    if baseline:
        group.add_argument("--eval_baseline", action="store_true",
                           help="Evaluate the base model before training and the result after; the card shows both.")
    group.add_argument("--max_eval_samples", type=int, default=200, help="Evaluate at most N rows (0: all).")
    if "--answer_column" not in parser._option_string_actions:  # GRPO's own --answer_column (its rewards) serves
        group.add_argument("--answer_column", default=None,
                           help="Reference answers for the task metric (default: 'answer' or 'solution' when present).")
    group.add_argument("--max_new_tokens", type=int, default=128, help="Tokens generated per sample / task row.")
    group.add_argument("--num_samples", type=int, default=5, help="Sample generations saved with the results.")


# --- rows -----------------------------------------------------------------------------------------------------


def _is_chat(value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "role" in value[0]


def _completion_text(value) -> str:
    """A completion's text: a string, or the content of its last message."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content") or "")
    return "" if value is None else str(value)


def split_row(row: dict, answer_column: str | None = None) -> dict | None:
    """{prompt (str or messages) or None, completion (str or None), answer (str or None)}; None for unusable rows."""
    answer_key = answer_column or next((c for c in ANSWER_COLUMNS if row.get(c) not in (None, "")), None)
    answer = row.get(answer_key) if answer_key else None
    answer = None if answer in (None, "") else str(answer)
    if "completion" in row and row.get("label") is not None and row["label"] in (False, 0, "false", "False"):
        return None  # KTO: an undesirable completion is not what the model should learn to say
    messages = row.get("messages")
    if not _is_chat(messages) and _is_chat(row.get("chosen")) and not row.get("prompt"):
        messages = row["chosen"]  # implicit preference: the preferred conversation
    if _is_chat(messages):
        if messages[-1].get("role") == "assistant" and len(messages) > 1:
            return {"prompt": messages[:-1], "completion": _completion_text(messages), "answer": answer}
        return {"prompt": messages, "completion": None, "answer": answer}
    prompt_key = next((c for c in EVAL_PROMPT_COLUMNS if row.get(c) not in (None, "", [])), None)
    if prompt_key is not None:
        prompt = row[prompt_key]
        completion = row.get("completion")
        if completion in (None, "", []) and "chosen" in row:  # preference data: the preferred answer
            completion = row.get("chosen")
        if completion in (None, "", []) and answer is not None and answer_key != prompt_key:
            completion = answer  # a question with its reference solution: score the solution
        return {"prompt": prompt if _is_chat(prompt) else str(prompt),
                "completion": _completion_text(completion) if completion not in (None, "", []) else None, "answer": answer}
    for key in ("text", "chosen"):  # plain text, or an implicit preference pair's preferred text
        if isinstance(row.get(key), str) and row[key].strip():
            return {"prompt": None, "completion": row[key], "answer": answer}
    return None


def _render_prompt(tokenizer, prompt) -> str:
    if prompt is None:
        return ""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return prompt


def _encode(tokenizer, example: dict, max_length: int) -> tuple[list[int], list[int]] | None:
    """(input_ids, labels) with the prompt's tokens masked (-100); None when no token is left to score."""
    chat = isinstance(example["prompt"], list)
    prompt_text = _render_prompt(tokenizer, example["prompt"])
    if chat and example["completion"] is not None:
        full_text = tokenizer.apply_chat_template(
            example["prompt"] + [{"role": "assistant", "content": example["completion"]}], tokenize=False)
        if not full_text.startswith(prompt_text):
            full_text = prompt_text + example["completion"]
    else:
        full_text = prompt_text + (example["completion"] or "")
    # Chat templates write their own special tokens; plain text gets the tokenizer's (e.g. a BOS token).
    special = not chat
    prompt_ids = tokenizer(prompt_text, add_special_tokens=special)["input_ids"] if prompt_text else []
    ids = tokenizer(full_text, add_special_tokens=special)["input_ids"][:max_length]
    masked = min(len(prompt_ids), len(ids)) if example["completion"] is not None else 0
    labels = [-100] * masked + ids[masked:]
    if sum(1 for label in labels[1:] if label != -100) == 0:
        return None
    return ids, labels


# --- metrics --------------------------------------------------------------------------------------------------


def _last_line(text: str) -> str | None:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _normal(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().strip(".").lower()


def score_answers(outputs: list[str], references: list[str]) -> dict:
    """The task metric of generated `outputs` against reference answers: exact_match (the final answers, extracted
    and normalised, are equal) and accuracy (tolerant matching, 1/2 == 0.5 == \\frac{1}{2}, as GRPO's accuracy reward
    does). One implementation for scripts/evaluate.py, the training scripts' --eval_baseline and the package."""
    if len(outputs) != len(references) or not references:
        raise ValueError(f"{len(outputs)} outputs for {len(references)} reference answers: need one each, at least one")
    exact = tolerant = 0
    for output, reference in zip(outputs, references):
        expected = reference_answer(reference)
        predicted = extract_answer(output)
        exact += int(predicted is not None and expected is not None and _normal(predicted) == _normal(expected))
        tolerant += int(bool(answers_match(predicted, expected)))
    return {"exact_match": exact / len(references), "accuracy": tolerant / len(references)}


def _loss(model, batch: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[float, int]:
    """Summed token loss and scored-token count of one batch (right padding)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([i + [pad_id] * (width - len(i)) for i, _ in batch], device=model.device)
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=model.device)
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    shift_logits, shift_labels = logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1)
    total = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    return float(total), int((shift_labels != -100).sum())


def _generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy continuations of rendered prompts (left padding, so every row ends where generation starts)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            special = not any(p.startswith(tokenizer.bos_token or "\0") for p in chunk)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=special).to(model.device)
            with torch.no_grad():
                generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
            for row in generated[:, enc["input_ids"].shape[1]:]:
                out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = side
    return out


def evaluate_model(model, tokenizer, rows: list[dict], *, max_length: int = 1024, batch_size: int = 8,
                   max_new_tokens: int = 128, num_samples: int = 5, answer_column: str | None = None) -> dict:
    """Loss and perplexity over completion tokens; with reference answers, exact match and tolerant accuracy of
    greedy generations (numeric answers compared as numbers, as GRPO's accuracy reward does); sample generations."""
    examples = [e for e in (split_row(row, answer_column) for row in rows) if e is not None]
    if not examples:
        raise ValueError("no row has a usable format for evaluation: need messages, prompt/question (+ completion "
                         "or answer), or text")
    was_training = model.training
    model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    encoded = [enc for enc in (_encode(tokenizer, e, max_length) for e in examples) if enc is not None]
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        loss_sum, tokens = _loss(model, encoded[start:start + batch_size], pad_id)
        total, count = total + loss_sum, count + tokens
    loss = total / count if count else None
    result = {"rows": len(examples), "scored_tokens": count, "loss": loss,
              "perplexity": (math.exp(loss) if loss < 700 else float("inf")) if loss is not None else None}

    task = [e for e in examples if e["answer"] is not None and e["prompt"] is not None]
    generate_for = task if task else [e for e in examples if e["prompt"] is not None][:num_samples]
    if not generate_for:  # plain text: continue the first half of each sample
        generate_for = [{"prompt": " ".join(e["completion"].split()[: max(1, len(e["completion"].split()) // 2)]),
                         "completion": e["completion"], "answer": None} for e in examples[:num_samples]]
    outputs = _generate(model, tokenizer, [_render_prompt(tokenizer, e["prompt"]) for e in generate_for],
                        max_new_tokens, batch_size) if num_samples or task else []
    if task:
        result.update(task_rows=len(task), **score_answers(outputs, [e["answer"] for e in task]))
    result["samples"] = [
        {"prompt": e["prompt"], "reference": e["answer"] if e["answer"] is not None else e["completion"],
         "generated": output} for e, output in list(zip(generate_for, outputs))[:num_samples]]
    if was_training:
        model.train()
    return result


def compare(base: dict, tuned: dict) -> dict:
    """Each shared metric of two evaluations: base, fine-tuned, difference (fine-tuned minus base)."""
    table = {}
    for key in COMPARED:
        b, t = base.get(key), tuned.get(key)
        if b is None and t is None:
            continue
        diff = t - b if b is not None and t is not None and math.isfinite(b) and math.isfinite(t) else None
        table[key] = {"base": b, "fine_tuned": t, "difference": diff}
    return table


def _metric_text(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def comparison_table(comparison: dict, base_name: str = "base", tuned_name: str = "fine-tuned") -> str:
    """A markdown table: metric | base | fine-tuned | difference (with which direction is better)."""
    lines = [f"| metric | {base_name} | {tuned_name} | difference |", "|---|---|---|---|"]
    for key, row in comparison.items():
        diff = row["difference"]
        better = None if diff is None or diff == 0 else (diff < 0) == (key in LOWER_IS_BETTER)
        mark = "" if better is None else (" (better)" if better else " (worse)")
        note = " (lower is better)" if key in LOWER_IS_BETTER else ""
        lines.append(f"| {key.replace('_', ' ')}{note} | {_metric_text(row['base'])} | {_metric_text(row['fine_tuned'])} | "
                     f"{'n/a' if diff is None else f'{diff:+.4f}'}{mark} |")
    return "\n".join(lines)


def single_table(result: dict) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key in ("rows", "scored_tokens", *COMPARED):
        if result.get(key) is not None:
            lines.append(f"| {key.replace('_', ' ')} | {_metric_text(result[key])} |")
    return "\n".join(lines)


def card_section(evaluation: dict) -> str:
    """The model card's evaluation section (between markers, so a later evaluation replaces it)."""
    data = evaluation.get("dataset") or "the eval split"
    rows = (evaluation.get("fine_tuned") or evaluation.get("model") or {}).get("rows", "?")
    lines = [CARD_START, "## Evaluation", "",
             f"On `{data}` ({evaluation.get('split') or 'eval'} split, {rows} rows), by hf-trainer's "
             "scripts/evaluate.py. Loss and perplexity count completion tokens only.", ""]
    if evaluation.get("comparison"):
        lines += [comparison_table(evaluation["comparison"], f"base (`{evaluation.get('base_name', 'base')}`)",
                                   "fine-tuned"), ""]
    else:
        lines += [single_table(evaluation.get("model") or {}), ""]
    samples = (evaluation.get("fine_tuned") or evaluation.get("model") or {}).get("samples") or []
    if samples:
        lines += ["Sample generations are in `results/samples.jsonl`; full numbers in `results/evaluation.json`.", ""]
    lines.append(CARD_END)
    return "\n".join(lines) + "\n"


def upsert_card_section(card: str, section: str) -> str:
    """The card with its evaluation section replaced, or appended when it has none."""
    if CARD_START in card and CARD_END in card:
        head, _, rest = card.partition(CARD_START)
        _, _, tail = rest.partition(CARD_END)
        return head + section.rstrip("\n") + tail
    return card.rstrip("\n") + "\n\n" + section


def result_files(evaluation: dict) -> dict[str, str]:
    """Files to write under the model folder: results/evaluation.json (no samples) and results/samples.jsonl."""
    main = evaluation.get("fine_tuned") or evaluation.get("model") or {}
    summary = json.loads(json.dumps(evaluation, default=str))
    for key in ("fine_tuned", "base", "model"):
        if isinstance(summary.get(key), dict):
            summary[key].pop("samples", None)
    samples = "".join(json.dumps(sample, ensure_ascii=False) + "\n" for sample in main.get("samples") or [])
    return {"results/evaluation.json": json.dumps(summary, indent=2) + "\n", "results/samples.jsonl": samples}


def eval_rows(dataset, limit: int) -> list[dict]:
    """The first `limit` rows (all with 0) of a datasets.Dataset or list, as dicts."""
    count = len(dataset) if not limit else min(limit, len(dataset))
    return [dict(dataset[i]) for i in range(count)]


def baseline_then_compare(args, rows: list[dict], model_init_kwargs: dict):
    """For the training scripts' --eval_baseline: evaluate the base model now (loaded apart, then freed) and return
    a function `after(model, tokenizer)` that evaluates the trained model and builds the comparison. None (with a
    warning) when the rows cannot be scored: the training goes on without the comparison."""
    import gc

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options = {"max_length": getattr(args, "max_length", None) or 1024,
               "batch_size": getattr(args, "per_device_eval_batch_size", None) or 8,
               "max_new_tokens": args.max_new_tokens, "num_samples": args.num_samples,
               "answer_column": args.answer_column}
    kwargs = {k: v for k, v in model_init_kwargs.items() if k != "quantization_config"}
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, **kwargs)
    if torch.cuda.is_available():
        model = model.to("cuda")
    print(f"Evaluating the base model {args.model_name_or_path} on {len(rows)} rows (--eval_baseline)", flush=True)
    try:
        base = evaluate_model(model, tokenizer, rows, **options)
    except ValueError as exc:  # the data cannot be scored: train anyway, without the comparison
        print(f"warning: --eval_baseline skipped: {exc}", flush=True)
        base = None
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if base is None:
        return None

    def after(trained, trained_tokenizer) -> dict:
        tuned = evaluate_model(trained, trained_tokenizer, rows, **options)
        evaluation = {"dataset": args.dataset_name, "split": "eval", "base_name": args.model_name_or_path,
                      "base": base, "fine_tuned": tuned, "comparison": compare(base, tuned)}
        # What results.finish_run puts beside the model: the card's section and the results/ files.
        return {**evaluation, "card_section": card_section(evaluation), "files": result_files(evaluation)}

    return after


def baseline_if_asked(args, train_dataset, eval_dataset, model_init_kwargs: dict):
    """--eval_baseline in a training script: score the base model now, on the rows the trained model is scored on
    after (the eval split, else the first training rows), and return `after` for results.finish_run. None when the
    flag is off, in --smoke, and in the other processes of a multi-GPU run (rank 0 evaluates)."""
    if not getattr(args, "eval_baseline", False) or args.smoke or not is_main_process():
        return None
    rows = eval_rows(eval_dataset if eval_dataset is not None else train_dataset, args.max_eval_samples)
    return baseline_then_compare(args, rows, model_init_kwargs)
