"""Jobs that stop early instead of paying for nothing, each with a named reason the scripts print and diagnose reads.

    nan_loss              the loss or gradient norm became NaN or infinite: every later step is wasted
    diverging             the loss stayed far above its best value for several logs in a row
    zero_reward_variance  GRPO: every completion of every prompt scored the same for --zero_reward_steps steps, so
                          the advantages are all zero and nothing is learned
    stalled               no training step, evaluation batch or save for --stall_minutes (a stalled data loader, a
                          hung collective under FSDP): the job would otherwise idle until its timeout

A stop prints one line, `hf-trainer stopped early [<reason>] at step N: ...` (diagnose.py matches it), and the first
three end training at once (`control.should_training_stop`) so finish_run can record why (runtime/results.py: the
model card and the --json summary). Before a diverged run ends, the push of the last good checkpoint (hub_strategy
checkpoint pushes each save in the background) is waited for, and the broken final weights are never saved or pushed.
A stalled process cannot return: a watchdog thread prints the line and ends the process with STOPPED_EXIT_CODE.

Like every runtime module it is inlined into the scripts: standard library at the top, transformers inside functions.
"""

import argparse
import math
import os
import sys
import threading
import time

# The exit status of a run that stopped early (argparse errors exit 2, smoke failures 1).
STOPPED_EXIT_CODE = 3
STOP_LINE = "hf-trainer stopped early [{reason}] at step {step}: {detail}"
CHECKPOINT_LINE = "hf-trainer checkpoint: step {step} of {total} (checkpoint-{step})"
# Reasons whose final weights are broken: never saved or pushed as the result.
BROKEN_REASONS = ("nan_loss", "diverging")
# diverging: at least this many logged losses first, then this many logs in a row above both bounds.
DIVERGING_MIN_LOGS = 5
DIVERGING_LOGS_IN_A_ROW = 3
DIVERGING_FACTOR = 3.0
DIVERGING_MARGIN = 1.0
# GRPO logs the share of prompt groups whose rewards are all equal; at or above this, the group gives no signal.
ZERO_STD_SHARE = 0.999


def add_early_stop_arguments(parser: argparse.ArgumentParser) -> None:
    """--stall_minutes and --zero_reward_steps (0 turns either off)."""
    group = parser.add_argument_group("early stop")
    group.add_argument("--stall_minutes", type=float, default=30.0,
                       help="Stop when no training step, evaluation batch or save happens for this long (a stalled "
                            "data loader, a hung collective); 0 never stops. Default 30.")
    group.add_argument("--zero_reward_steps", type=int, default=25,
                       help="GRPO: stop when every completion scored the same for this many steps in a row (no "
                            "learning signal); 0 never stops. Default 25.")


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


def early_stop(args, method: str):
    """The TrainerCallback that stops a run for the reasons above; its `stopped` holds the reason once it fired."""
    from transformers import TrainerCallback

    stall_seconds = float(getattr(args, "stall_minutes", 0) or 0) * 60
    zero_steps = int(getattr(args, "zero_reward_steps", 0) or 0) if method == "grpo" else 0

    class EarlyStop(TrainerCallback):
        def __init__(self) -> None:
            self.stopped: dict | None = None
            self.losses: list[float] = []
            self.rising = 0
            self.zero_since: int | None = None
            self.last_log_step = 0
            self.beat = time.monotonic()
            self.done = threading.Event()

        # --- the reasons ---

        def stop(self, control, reason: str, step: int, detail: str) -> None:
            if self.stopped is None:
                self.stopped = {"reason": reason, "step": step, "detail": detail}
                print(STOP_LINE.format(reason=reason, step=step, detail=detail), flush=True)
            control.should_training_stop = True
            if reason in BROKEN_REASONS:
                # The log comes before this step's save: a diverged model must not become the last checkpoint.
                control.should_save = False
                control.should_evaluate = False

        def on_log(self, train_args, state, control, logs=None, **kwargs):
            self.heartbeat()
            logs = logs or {}
            step = state.global_step
            for key in ("loss", "grad_norm"):
                if key in logs and not _finite(logs[key]):
                    self.stop(control, "nan_loss", step, f"training diverged: {key} is {logs[key]} at step {step}. "
                              f"Lower the learning rate (now {train_args.learning_rate:g}) about tenfold; on fp16 "
                              "GPUs (T4) prefer a bf16 GPU. The last good checkpoint is the last one saved.")
                    return
            if "loss" in logs and method != "grpo":  # GRPO's loss is no measure of progress
                self.diverging(control, float(logs["loss"]), step, train_args)
            if zero_steps and "frac_reward_zero_std" in logs:
                steps = max(1, step - self.last_log_step)
                if float(logs["frac_reward_zero_std"]) >= ZERO_STD_SHARE:
                    self.zero_since = (self.zero_since or 0) + steps
                    if self.zero_since >= zero_steps:
                        self.stop(control, "zero_reward_variance", step,
                                  f"every completion scored the same reward for {self.zero_since} steps (reward "
                                  f"{logs.get('reward')}): no learning signal. Check that the reward functions fit "
                                  "the data, or make the task reachable for the model")
                else:
                    self.zero_since = None
            if "loss" in logs or "frac_reward_zero_std" in logs:
                self.last_log_step = step

        def diverging(self, control, loss: float, step: int, train_args) -> None:
            self.losses.append(loss)
            if len(self.losses) <= DIVERGING_MIN_LOGS:
                return
            best = min(self.losses)
            if loss > best * DIVERGING_FACTOR and loss > best + DIVERGING_MARGIN:
                self.rising += 1
            else:
                self.rising = 0
            if self.rising >= DIVERGING_LOGS_IN_A_ROW:
                self.stop(control, "diverging", step,
                          f"the loss is {loss:.4f}, over {DIVERGING_FACTOR:g}x its best ({best:.4f}), for "
                          f"{self.rising} logs in a row. Lower the learning rate (now {train_args.learning_rate:g}) "
                          "about tenfold")

        # --- progress: the watchdog's heartbeat, and a line per checkpoint that retry reads ---

        def heartbeat(self) -> None:
            self.beat = time.monotonic()

        def on_train_begin(self, train_args, state, control, **kwargs):
            self.heartbeat()
            if stall_seconds > 0 and state.is_world_process_zero:
                threading.Thread(target=self.watch, args=(state,), daemon=True, name="hf-trainer-stall").start()

        def on_step_end(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_substep_end(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_prediction_step(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_evaluate(self, train_args, state, control, **kwargs):
            self.heartbeat()

        def on_save(self, train_args, state, control, **kwargs):
            self.heartbeat()
            if state.is_world_process_zero:
                print(CHECKPOINT_LINE.format(step=state.global_step, total=state.max_steps), flush=True)

        def on_train_end(self, train_args, state, control, **kwargs):
            self.done.set()

        def watch(self, state) -> None:
            while not self.done.wait(min(30.0, max(0.05, stall_seconds / 10))):
                idle = time.monotonic() - self.beat
                if idle >= stall_seconds:
                    self.stopped = {"reason": "stalled", "step": state.global_step,
                                    "detail": f"no training step for {idle / 60:.1f} minutes"}
                    print(STOP_LINE.format(reason="stalled", step=state.global_step,
                                           detail=f"no training step, evaluation batch or save for {idle / 60:.1f} "
                                                  f"minutes (--stall_minutes {stall_seconds / 60:g}): a stalled "
                                                  "data loader or a hung collective. Resume with --resume auto"),
                          flush=True)
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(STOPPED_EXIT_CODE)  # the main thread is stuck: nothing else would end the process

    return EarlyStop()


def stop_record(trainer) -> dict | None:
    """Why `trainer`'s run stopped early ({reason, step, detail}), or None when it ran to its end."""
    for callback in getattr(getattr(trainer, "callback_handler", None), "callbacks", []):
        stopped = getattr(callback, "stopped", None)
        if isinstance(stopped, dict) and "reason" in stopped:
            return stopped
    return None


def finish_pushes(trainer) -> None:
    """Wait for the background push of the last checkpoint (hub_strategy checkpoint), so it reaches the Hub before a
    stopped run ends."""
    finish = getattr(trainer, "_finish_current_push", None)
    if callable(finish):
        finish()
