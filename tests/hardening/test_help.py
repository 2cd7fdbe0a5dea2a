"""Hardening III, finding 8: `hf-trainer train --help` crashed with a traceback (`TypeError: %o format`: a '%' in a
help text, which argparse reads as a format). Every command and subcommand's --help must print and exit 0.

The commands are read from the parser itself, so a command added later is covered without editing this file. Runs
in-process (hf_trainer.cli.main), so the whole tree takes about a second.
"""

import argparse

import pytest

from hf_trainer.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(build_parser())


def test_the_walk_finds_the_commands_a_person_meets() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"", "train", "rerun", "preflight", "mcp", "jobs", "jobs uv", "jobs logs"} <= names, sorted(names)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hf-trainer")
def test_every_command_prints_its_help_and_exits_0(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "usage: hf-trainer" in out and "Traceback" not in out + err


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=lambda c: " ".join(c))
def test_every_help_text_formats_with_every_percent_sign_escaped(command: tuple[str, ...]) -> None:
    # The same check without printing: argparse formats each help with '%' expansion ("%(default)s").
    parser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    text = parser.format_help()
    assert text.startswith("usage: hf-trainer")
