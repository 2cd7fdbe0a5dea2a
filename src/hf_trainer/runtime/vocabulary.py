"""Words all of hf-trainer shares, defined once: the training methods, the resume choices, the job-timeout rule.

The package imports them from here (`hf_trainer.runtime.vocabulary`); the runtime modules scripts carry import them
with a relative import, so scripts/estimate_cost.py and scripts/inspect_dataset.py carry the same definitions.
"""

import math
from typing import Literal, get_args

# The training methods, each a bundled script scripts/train_<method>.py.
Method = Literal["sft", "dpo", "grpo", "reward", "kto"]
METHODS: tuple[str, ...] = get_args(Method)

# --resume of the training scripts (runtime/resume.py): continue a matching checkpoint, start fresh, or insist.
Resume = Literal["auto", "never", "must"]
RESUME_CHOICES: tuple[str, ...] = get_args(Resume)

# A job's timeout is its estimate plus 25%, rounded up to the minute, never under 10 minutes: estimates err, and a
# job killed at 99% has spent all its money for nothing.
TIMEOUT_BUFFER = 1.25
MIN_TIMEOUT_SECONDS = 600


def timeout_seconds(estimated_seconds: float) -> int:
    """The timeout for a job estimated to run `estimated_seconds`: estimate + 25%, rounded up to the minute, at
    least 10 minutes."""
    return max(MIN_TIMEOUT_SECONDS, math.ceil(estimated_seconds * TIMEOUT_BUFFER / 60) * 60)
