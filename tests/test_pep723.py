import pytest

from hf_trainer.errors import UserError
from hf_trainer.pep723 import dependencies, read_metadata
from hf_trainer.timeouts import format_duration, parse_timeout

GOOD = '# /// script\n# requires-python = ">=3.11"\n# dependencies = ["trl>=1.16", "peft>=0.21"]\n# ///\nprint(1)\n'


def test_header_dependencies_are_read():
    assert dependencies(GOOD) == ["trl>=1.16", "peft>=0.21"]
    assert read_metadata(GOOD)["requires-python"] == ">=3.11"


def test_a_script_without_header_has_no_metadata():
    assert read_metadata("print('hi')\n") is None


def test_an_unclosed_header_is_refused_with_its_line():
    with pytest.raises(UserError, match=r"line 2 .*never closes"):
        read_metadata('#!/usr/bin/env python\n# /// script\n# dependencies = []\nprint(1)\n')


def test_invalid_toml_in_the_header_is_refused():
    with pytest.raises(UserError, match="not valid TOML"):
        read_metadata("# /// script\n# dependencies = [\n# ///\n")


@pytest.mark.parametrize(
    "value, seconds",
    [
        (5400, 5400),  # plain integer seconds
        ("5400", 5400),  # digits as text
        ("90m", 5400),
        ("1.5h", 5400),
        ("2h", 7200),
        ("1d", 86400),
        ("30s", 30),
    ],
)
def test_timeouts_in_accepted_forms_are_read_as_seconds(value, seconds):
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["2hours", "5x", "0", 0, -5, "-1h", "", "1h30m", "2H", True])
def test_malformed_timeouts_are_refused_naming_the_accepted_forms(value):
    with pytest.raises(UserError, match=r"timeout .*(90m|positive)"):
        parse_timeout(value)


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (59, "59s"), (600, "10m"), (3900, "1h05m")])
def test_durations_format_without_zero_hours(seconds, text):
    assert format_duration(seconds) == text
