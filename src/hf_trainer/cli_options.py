"""The one generator that turns a pydantic input model into command-line options, for every `hf-trainer` command.

The MCP tools publish the same models, so a field reads the same everywhere: its name in TRL's vocabulary, its
description as the help text, its choices, its type. The spelling rules, in one place:
- every field is `--field_name` and `--field-name` (TRL's underscores and the CLI's hyphens); `flags` adds short or
  `hf jobs` spellings (`-e/--env`, `--with`, ...);
- a bool field is `--name` / `--no-name` (left out: the model's default);
- a list field takes one value per occurrence (`--with a --with b`) when the command has positional arguments (so
  it never swallows them), else one or more values (`--flavors a b`); a dict field takes `K=V`, repeated;
- a Literal field offers its choices; numbers are parsed as the field's type;
- left out means left out: only the options given reach the model, whose defaults then apply as for MCP.
Values are validated by the model itself, and a refusal is worded by errors.to_user_error, as for MCP.
"""

import argparse
import types
import typing
from typing import Any

from pydantic import BaseModel, BeforeValidator, PlainValidator, WrapValidator
from pydantic.fields import FieldInfo


def _plain(annotation: Any) -> Any:
    """The annotation without Annotated[...] metadata and without `| None`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _plain(options[0])
        return typing.Union[tuple(_plain(o) for o in options)]
    return annotation


def _kinds(annotation: Any) -> list[Any]:
    plain = _plain(annotation)
    return [_plain(a) for a in typing.get_args(plain)] if typing.get_origin(plain) in (typing.Union, types.UnionType) \
        else [plain]


def _is(annotation: Any, origin: type) -> bool:
    return any(k is origin or typing.get_origin(k) is origin for k in _kinds(annotation))


def _choices(annotation: Any) -> list[Any] | None:
    for kind in _kinds(annotation):
        if typing.get_origin(kind) is typing.Literal:
            return list(typing.get_args(kind))
        if typing.get_origin(kind) is list:
            inner = _plain(typing.get_args(kind)[0]) if typing.get_args(kind) else None
            if typing.get_origin(inner) is typing.Literal:
                return list(typing.get_args(inner))
    return None


def _number(annotation: Any) -> type | None:
    kinds = _kinds(annotation)
    if bool in kinds:
        return None
    if float in kinds:
        return float
    if int in kinds:
        return int
    return None


def integer(text: str) -> int:
    """A whole number written as 7000000000, 7e9 or 0.5e9."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def _parses_text(field: FieldInfo) -> bool:
    """The field reads text itself (a timeout such as '2h'): the command line passes the words through."""
    return any(isinstance(m, (BeforeValidator, PlainValidator, WrapValidator)) for m in field.metadata)


def help_text(field: FieldInfo) -> str:
    """The field's description as argparse help ('%' escaped: argparse formats help with %)."""
    text = field.description or ""
    if not field.is_required() and field.default not in (None, [], {}, "") and \
            not isinstance(field.default, (list, dict)) and "default" not in text.lower():
        text = f"{text} (default {field.default})".strip()
    return text.replace("%", "%%")


def add_field(parser: argparse.ArgumentParser, name: str, field: FieldInfo, *, flags: tuple[str, ...] = (),
              metavar: str | None = None, repeat: bool = False) -> None:
    """One option for one field (see the module's rules). `repeat`: lists take one value per occurrence."""
    spellings = tuple(dict.fromkeys((*flags, f"--{name}", f"--{name.replace('_', '-')}")))
    kwargs: dict[str, Any] = {"dest": name, "help": help_text(field), "default": None}
    annotation = field.annotation
    if _kinds(annotation) == [bool]:
        parser.add_argument(*spellings, action=argparse.BooleanOptionalAction, **kwargs)
        return
    if metavar:
        kwargs["metavar"] = metavar
    choices = _choices(annotation)
    if choices:
        kwargs["choices"] = choices
    if _is(annotation, dict):
        kwargs["action"] = "append"
        kwargs.setdefault("metavar", "K=V")
    elif _is(annotation, list):
        if repeat:
            kwargs["action"] = "append"
        else:
            kwargs.update(action="extend", nargs="+")
    elif (number := _number(annotation)) is not None and not _parses_text(field):
        kwargs["type"] = integer if number is int else number
    parser.add_argument(*spellings, **kwargs)


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel], *, positional: tuple[str, ...] = (),
                      skip: tuple[str, ...] = (), flags: dict[str, tuple[str, ...]] | None = None,
                      metavars: dict[str, str] | None = None, required: tuple[str, ...] = ()) -> None:
    """Every field of `model` as an option, except `positional` (added by the caller, in its order) and `skip`.
    `required`: fields given as required options (`--method sft`) rather than positional words."""
    flags, metavars = flags or {}, metavars or {}
    for name, field in model.model_fields.items():
        if name in positional or name in skip:
            continue
        add_field(parser, name, field, flags=flags.get(name, ()), metavar=metavars.get(name),
                  repeat=bool(positional))
        if name in required:
            parser._option_string_actions[f"--{name}"].required = True


def given_values(ns: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The fields the command line set (None and empty lists are 'not given'), ready for model_validate."""
    values = {}
    for name in model.model_fields:
        value = getattr(ns, name, None)
        if value is None or value == []:
            continue
        values[name] = value
    return values
