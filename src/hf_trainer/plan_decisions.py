"""Which changes to a run are the person's to decide, and what keeps the run as asked.

NVIDIA's TAO fine-tuning skill never switches method or model without saying so. A plan may change a job so that it
fits a flavor: some changes keep what is learned (activation checkpointing, smaller micro-batches with the same
effective batch, sharding over GPUs, another flavor); others change it: the method (full fine-tuning -> LoRA, the
adapter's shape), the model, the numeric precision (a 4-bit base for QLoRA, an 8-bit optimizer state, a forced
precision) or the data (another split, a mapping, truncation, fewer rows, fewer or more steps, another learning
rate). The second kind is a `Decision`: the plan marks it, says what it changes, and names the alternative that keeps
the run as asked (the cheapest flavor that fits without it, with its price), so the agent can put the choice to the
person instead of paying for a different run than the one asked for.

`classify_flag` is the one rule; `plan_decisions` applies it to an estimate's changes for one flavor (train), and
`decisions_between` to any two argument lists (a retry or rerun plan that changes a job).
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from hf_trainer.timeouts import format_duration

DecisionKind = Literal["method", "model", "precision", "data", "training"]

# Flags whose change leaves what is learned as it was (same math, other memory or speed). Batch and accumulation are
# here only while their product (the effective batch) stays the same: `decisions_between` checks that.
NEUTRAL_FLAGS = frozenset({
    "--activation_checkpointing", "--no-activation_checkpointing", "--fsdp", "--attn_implementation",
    "--per_device_train_batch_size", "--gradient_accumulation_steps", "--per_device_eval_batch_size",
    "--save_steps", "--save_total_limit", "--logging_steps", "--hub_strategy", "--resume", "--json", "--run_name",
    "--trackio_project", "--trackio_space_id", "--report_to", "--output_dir", "--stall_minutes", "--use_vllm",
    "--vllm_gpu_memory_utilization", "--steps_per_generation",
})

# What each deciding flag changes, in words for the person.
_EFFECTS: dict[str, tuple[DecisionKind, str]] = {
    "--use_peft": ("method", "trains a LoRA adapter instead of all weights (full fine-tuning -> LoRA): fewer "
                   "parameters learn, the result is an adapter"),
    "--no-use_peft": ("method", "trains all weights instead of a LoRA adapter"),
    "--method": ("method", "another training method"),
    "--lora_r": ("method", "another adapter rank (what the adapter can learn)"),
    "--lora_alpha": ("method", "another adapter scale"),
    "--lora_target_modules": ("method", "the adapter sits on other layers"),
    "--load_in_4bit": ("precision", "QLoRA: the base model is frozen in 4-bit NF4 and the adapter learns against "
                       "the quantized weights (usually a small quality loss, slower steps; CUDA only)"),
    "--precision": ("precision", "another numeric precision for training"),
    "--model_name_or_path": ("model", "another base model"),
    "--dataset_name": ("data", "other training data"),
    "--dataset_config": ("data", "another dataset config"),
    "--dataset_train_split": ("data", "another training split"),
    "--dataset_test_split": ("data", "another evaluation split"),
    "--dataset_revision": ("data", "another revision of the data"),
    "--dataset_mapping": ("data", "the rows are converted by another mapping"),
    "--max_train_samples": ("data", "trains on fewer rows"),
    "--max_length": ("data", "sequences are cut at another length (longer rows lose their end)"),
    "--eval_split_size": ("data", "another share of the rows is held out for evaluation"),
    "--packing": ("data", "rows are packed together"),
    "--no-packing": ("data", "rows are no longer packed"),
    "--num_train_epochs": ("training", "another number of passes over the data"),
    "--max_steps": ("training", "another number of steps"),
    "--learning_rate": ("training", "another learning rate"),
}


def classify_flag(flag: str, value: str | None = None) -> tuple[DecisionKind, str] | None:
    """None when changing `flag` (to `value`) keeps what is learned; else the kind of decision and what it changes.
    A flag this table does not know is a decision ('training'): silence is the mistake the table exists to avoid."""
    if flag in NEUTRAL_FLAGS:
        return None
    if flag == "--optim":
        if value and "8bit" in value:
            return "precision", (f"the optimizer keeps its state in 8 bits ({value}): far less memory, updates "
                                 "rounded slightly differently")
        return "training", f"another optimizer ({value})"
    return _EFFECTS.get(flag, ("training", f"{flag} set to {value}" if value else f"{flag} set"))


class Decision(BaseModel):
    """A change of method, model, precision or data that a plan makes to fit a flavor: the person's to decide."""

    change: str = Field(description="The change, for people, e.g. 'load_in_4bit=True (QLoRA)'.")
    kind: DecisionKind = Field(description="What it changes: method, model, precision, data or training.")
    effect: str = Field(description="What that means for the result.")
    script_args: list[str] = Field(default_factory=list, description="The script flags that make it.")
    why: str = Field(default="", description="Why the plan made it, e.g. to fit a flavor's memory.")
    alternative: str = Field(description="What keeps the run as asked: a flavor that fits without the change, with "
                             "its time and price, or why there is none.")
    alternative_flavor: str | None = Field(default=None, description="That flavor (plan again with flavor=...).")
    alternative_hours: float | None = None
    alternative_cost_usd: float | None = None

    def render(self) -> str:
        return (f"DECISION ({self.kind}): {self.change}{f' {self.why}' if self.why else ''}: {self.effect}. "
                f"Ask the person. {self.alternative}")


def _groups(script_args: list[str]) -> list[tuple[str, str | None]]:
    """`--flag [value]` pairs, in order."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(script_args):
        flag = script_args[i]
        value = script_args[i + 1] if i + 1 < len(script_args) and not script_args[i + 1].startswith("--") else None
        if flag.startswith("--"):
            if "=" in flag:
                flag, value = flag.split("=", 1)
            out.append((flag, value))
        i += 2 if value is not None and "=" not in script_args[i] else 1
    return out


def _deciding(changes: list[str], script_args: list[str]) -> list[tuple[str, list[str], DecisionKind, str]]:
    """The estimator's changes for one flavor (labels such as 'load_in_4bit=True (QLoRA)' and their flags) that are
    decisions: (label, its flags, kind, effect)."""
    groups = _groups(script_args)
    out = []
    for label in changes:
        name = "--" + label.split("=", 1)[0].split()[0]
        flags = [(flag, value) for flag, value in groups if flag == name]
        if name == "--per_device_train_batch_size":
            continue  # the estimator keeps the effective batch (its label says so): memory, not a decision
        value = flags[0][1] if flags else (label.split("=", 1)[1].split()[0] if "=" in label else None)
        kind = classify_flag(name, value)
        if kind is not None:
            words = [word for flag, value in flags for word in (flag, *([value] if value is not None else []))]
            out.append((label, words or [name], kind[0], kind[1]))
    return out


def keeps_the_run(row: Any) -> bool:
    """An estimate row whose job fits without a deciding change (as is, or with neutral changes only)."""
    if row.verdict == "does not fit":
        return False
    return row.verdict == "fits" or not _deciding(list(row.changes), list(row.script_args or []))


def _alternative(rows: list[Any], flavor: str | None, cost: float | None) -> tuple[str, Any]:
    keepers = sorted((r for r in rows if r.flavor != "local" and keeps_the_run(r)),
                     key=lambda r: (not r.within_time_limit, r.cost_usd))
    if not keepers:
        if len(rows) <= 1:
            return ("Only the flavor given was estimated: plan again without flavor to see which flavors fit "
                    "without this change.", None)
        return ("No flavor fits without it: keep it, or shorten max_length, use LoRA where the run is full "
                "fine-tuning, or pick a smaller model.", None)
    best = keepers[0]
    extra = f" ({'+' if best.cost_usd >= cost else '-'}${abs(best.cost_usd - cost):.2f} against this plan)" \
        if cost is not None else ""
    limit = "" if best.within_time_limit else ", over the time limit"
    return (f"Keeps the run as asked: {best.flavor} fits without it, ~{format_duration(best.hours * 3600)}, "
            f"~${best.cost_usd:.2f} at ${best.price_per_hour:.2f}/h{extra}{limit}; plan again with "
            f"flavor='{best.flavor}'.", best)


def plan_decisions(changes: list[str], change_args: list[str], rows: list[Any], flavor: str | None,
                   cost_usd: float | None = None) -> list[Decision]:
    """The decisions among the changes a plan makes on `flavor` (an estimate row's `changes` and `script_args`),
    each with the alternative that keeps the run as asked (from the estimate's `rows`)."""
    deciding = _deciding(changes, change_args)
    if not deciding:
        return []
    text, best = _alternative(rows, flavor, cost_usd)
    why = f"to fit {flavor}" if flavor else "to fit this machine"
    return [Decision(change=label, kind=kind, effect=effect, script_args=words, why=why, alternative=text,
                     alternative_flavor=best.flavor if best is not None else None,
                     alternative_hours=best.hours if best is not None else None,
                     alternative_cost_usd=best.cost_usd if best is not None else None)
            for label, words, kind, effect in deciding]


def decisions_between(before: list[str], after: list[str], *, why: str = "",
                      alternative: str = "Keep the job as it was: say so, and it is not changed.") -> list[Decision]:
    """The decisions in changing a job's arguments from `before` to `after` (a retry or a rerun that changes them):
    every flag added, removed or set to another value that changes what is learned. Batch and accumulation are
    neutral only while their product stays the same."""
    old, new = dict(_groups(before)), dict(_groups(after))
    out: list[Decision] = []
    batch_flags = ("--per_device_train_batch_size", "--gradient_accumulation_steps")

    def shape(args: dict[str, str | None]) -> str:
        return f"{args.get(batch_flags[0]) or 'default'} x {args.get(batch_flags[1]) or 'default'}"

    def product(args: dict[str, str | None]) -> int | None:
        try:
            return int(args[batch_flags[0]] or "") * int(args[batch_flags[1]] or "")
        except (KeyError, ValueError):
            return None  # a default we do not read here: assume it changed

    if any(old.get(flag) != new.get(flag) for flag in batch_flags) and (product(old) is None
                                                                       or product(old) != product(new)):
        out.append(Decision(change=f"batch x accumulation {shape(old)} -> {shape(new)}", kind="training",
                            effect="another effective batch (the optimizer sees other gradients)",
                            script_args=[w for f in batch_flags if f in new for w in (f, new[f] or "")],
                            why=why, alternative=alternative))
    for flag in [*new, *(f for f in old if f not in new)]:
        if flag in batch_flags or (flag in old and flag in new and old[flag] == new[flag]):
            continue
        value = new.get(flag)
        kind = classify_flag(flag, value)
        if kind is None:
            continue
        if flag in old and flag in new:
            change = f"{flag} {old[flag] or ''} -> {value or ''}".replace("  ", " ").strip()
        else:
            change = f"{flag} {value or ''}".strip() if flag in new else f"{flag} removed"
        effect = kind[1] if flag in new else f"no longer: {kind[1]}"
        out.append(Decision(change=change, kind=kind[0], effect=effect,
                            script_args=[flag, value] if value else [flag], why=why, alternative=alternative))
    return out
