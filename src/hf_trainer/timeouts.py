"""Job timeouts: one parser for every backend, the CLI and the MCP tools.

HF Jobs (and huggingface_hub) read "2h", "1.5h", "30m", "1d" or plain seconds. hf-mcp-server read "2hours" as two
seconds; we refuse anything we cannot read exactly, naming the forms we accept.
"""

import math
import re

from hf_trainer.errors import UserError

# The longest timeout accepted: 30 days. Longer ones are typos ("9"*30 seconds overflowed the job store), and a job
# that should run that long is better split with checkpoints.
MAX_TIMEOUT_SECONDS = 30 * 86400
# What HF Jobs applies when a job spec names no timeout (the one copy: preflight, views, the Hub backend read it).
HUB_DEFAULT_TIMEOUT_SECONDS = 30 * 60

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
ACCEPTED = "an integer number of seconds (e.g. 5400) or a number with s, m, h or d (e.g. '90m', '1.5h', '2h', '1d')"


def parse_timeout(value: int | float | str) -> int:
    """Seconds (> 0) from 5400, "5400", "90m", "1.5h", "2h" or "1d"; UserError for anything else."""
    if isinstance(value, bool):
        raise UserError(f"timeout {value!r} is not a duration. Use {ACCEPTED}.")
    shown = _shown(value)
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
    elif isinstance(value, str):
        match = _FORM.match(value) if len(value) <= 1000 else None
        if not match:
            raise UserError(f"timeout {shown} is not a duration. Use {ACCEPTED}.")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise UserError(f"timeout {shown} is not a duration. Use {ACCEPTED}.")
    if math.isnan(seconds):
        raise UserError(f"timeout {shown} is not a number. Use {ACCEPTED}.")
    if seconds <= 0:
        raise UserError(f"timeout {shown} must be positive. Use {ACCEPTED}.")
    if seconds > MAX_TIMEOUT_SECONDS:
        raise UserError(f"timeout {shown} is longer than the {MAX_TIMEOUT_SECONDS // 86400} days accepted. Use "
                        f"{ACCEPTED}; for longer training, save checkpoints and resume in a new job.")
    return max(1, round(seconds))


def check_timeout_seconds(seconds: object) -> None:
    """UserError unless `seconds` is a whole number of seconds in 1..MAX_TIMEOUT_SECONDS (for requests built
    without parse_timeout)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise UserError(f"timeout {_shown(seconds)} must be a whole number of seconds from 1 to "
                        f"{MAX_TIMEOUT_SECONDS} ({MAX_TIMEOUT_SECONDS // 86400} days). Use {ACCEPTED}.")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def format_duration(seconds: float) -> str:
    """A short human form: 45s, 12m, 1h05m; never '0h'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
