"""The one registry of the scripts in scripts/: what each trains, how it is launched, what it accepts.

Everything that treats a bundled script specially reads this table: the submit pipeline (which scripts are
estimated, by which method), preflight (results that must be pushed, GRPO's rewards), the Hub backend (which run one
process per GPU under accelerate), `train` (which script trains a method, which take --eval_baseline), diagnose,
retry and rerun. A script's defaults come from its own parser (script_defaults.py), never from a copy here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BundledScript:
    """One script of scripts/ and the facts the library needs about it."""

    name: str
    # The method it trains (None: not a training script). train_vlm.py: its --method (sft or dpo) decides; "sft" is
    # its default.
    method: str | None = None
    # The script `train` plans for the method (one per method; the others train it too, for their own reasons).
    plans_method: bool = False
    # Runs one process per GPU under `accelerate launch` on multi-GPU flavors (DDP, or FSDP with --fsdp).
    distributed: bool = False
    # Takes --eval_baseline (scores the base model before training, on the same rows).
    baseline: bool = False
    # Needs --reward_funcs or --reward_funcs_file (preflight refuses it without).
    needs_rewards: bool = False
    # Takes --method itself (one script, several methods).
    method_flag: bool = False

    @property
    def trains(self) -> bool:
        return self.method is not None


SCRIPTS: dict[str, BundledScript] = {s.name: s for s in [
    BundledScript("train_sft.py", "sft", plans_method=True, distributed=True, baseline=True),
    BundledScript("train_dpo.py", "dpo", plans_method=True, distributed=True, baseline=True),
    BundledScript("train_grpo.py", "grpo", plans_method=True, distributed=True, baseline=True, needs_rewards=True),
    BundledScript("train_reward.py", "reward", plans_method=True, distributed=True),
    BundledScript("train_kto.py", "kto", plans_method=True, distributed=True, baseline=True),
    BundledScript("train_sft_unsloth.py", "sft"),
    BundledScript("train_vlm.py", "sft", baseline=True, method_flag=True),
    BundledScript("evaluate.py"),
    BundledScript("benchmark.py"),  # priced from its own arguments by benchmark_plan.py, not the training estimate
    BundledScript("generate_responses.py"),
    BundledScript("convert_to_gguf.py"),
    BundledScript("inspect_dataset.py"),
    BundledScript("estimate_cost.py"),
]}

# The script that trains each method (the estimator's and `train`'s method names).
METHOD_SCRIPTS: dict[str, str] = {s.method: s.name for s in SCRIPTS.values() if s.plans_method and s.method}
# Every training script and the method it trains by default.
TRAINING_SCRIPTS: dict[str, str] = {s.name: s.method for s in SCRIPTS.values() if s.method}
# The script `train` plans for image data (any method it takes).
VISION_SCRIPT = "train_vlm.py"


def bundled(name: str | None) -> BundledScript | None:
    """The registry entry of a bundled script by file name ('train_sft.py'), or None."""
    return SCRIPTS.get(name or "")
