"""Hardening III, finding 10: the deadline message said "within 15.7 s" for a call that took 60 s (it named the last
attempt's remainder). It now names the time the whole call took, retries and pauses included."""

import re
import threading

import pytest

from hf_trainer.errors import UserError
from hf_trainer.jobs.hub_errors import Context, Retry


def test_a_call_that_ran_out_its_deadline_over_several_attempts_names_the_whole_time() -> None:
    stop = threading.Event()
    retry = Retry(attempts=4, attempt_timeout=0.3, total_timeout=0.8, base_delay=0.01, sleep=lambda s: None)
    with pytest.raises(UserError) as info:
        retry.call(lambda: stop.wait(5), Context(action="list jobs"))  # a Hub that never answers
    stop.set()
    seconds = float(re.search(r"within ([\d.]+) s", str(info.value)).group(1))
    assert 0.7 <= seconds <= 2.0, str(info.value)
