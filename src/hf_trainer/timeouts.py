"""Job timeouts: one parser for every backend, the CLI and the MCP tools.

HF Jobs (and huggingface_hub) read "2h", "1.5h", "30m", "1d" or plain seconds. hf-mcp-server read "2hours" as two
seconds; we refuse anything we cannot read exactly, naming the forms we accept.
"""

import re

from hf_trainer.errors import UserError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
ACCEPTED = "an integer number of seconds (e.g. 5400) or a number with s, m, h or d (e.g. '90m', '1.5h', '2h', '1d')"


def parse_timeout(value: int | float | str) -> int:
    """Seconds (> 0) from 5400, "5400", "90m", "1.5h", "2h" or "1d"; UserError for anything else."""
    if isinstance(value, bool):
        raise UserError(f"timeout {value!r} is not a duration. Use {ACCEPTED}.")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _FORM.match(value)
        if not match:
            raise UserError(f"timeout {value!r} is not a duration. Use {ACCEPTED}.")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise UserError(f"timeout {value!r} must be positive. Use {ACCEPTED}.")
    return max(1, round(seconds))


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
