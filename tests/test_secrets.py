"""Secrets: $HF_TOKEN expansion, tokens kept out of env, and redaction."""

import pytest
from conftest import CANARY_TOKEN
from pydantic import BaseModel

from hf_trainer.errors import UserError
from hf_trainer.redaction import REDACTED, Redactor
from hf_trainer.tokens import caller_token, prepare_env_and_secrets


@pytest.mark.parametrize("reference", ["$HF_TOKEN", "${HF_TOKEN}", " $HF_TOKEN "])
def test_a_token_reference_in_secrets_becomes_the_callers_token(reference: str) -> None:
    env, secrets = prepare_env_and_secrets({}, {"HF_TOKEN": reference}, CANARY_TOKEN)
    assert secrets == {"HF_TOKEN": CANARY_TOKEN}
    assert env == {}


def test_a_token_reference_in_env_is_moved_to_secrets_so_it_is_never_shown() -> None:
    env, secrets = prepare_env_and_secrets({"HF_TOKEN": "$HF_TOKEN", "MODE": "fast"}, {}, CANARY_TOKEN)
    assert env == {"MODE": "fast"}
    assert secrets == {"HF_TOKEN": CANARY_TOKEN}


def test_a_token_reference_without_a_token_says_how_to_log_in() -> None:
    with pytest.raises(UserError, match=r"'HF_TOKEN' is '\$HF_TOKEN', but no Hugging Face token.*hf auth login"):
        prepare_env_and_secrets({}, {"HF_TOKEN": "$HF_TOKEN"}, None)


@pytest.mark.parametrize(
    "value",
    [
        CANARY_TOKEN,  # the caller's own token
        "hf_" + "a" * 34,  # any token-shaped value
        f"Bearer {CANARY_TOKEN}",  # a token inside a longer value
    ],
)
def test_a_literal_token_in_env_is_refused_with_a_pointer_to_secrets(value: str) -> None:
    with pytest.raises(UserError) as err:
        prepare_env_and_secrets({"TOKEN": value}, {}, CANARY_TOKEN)
    message = str(err.value)
    assert "Pass it as a secret instead: secrets {'TOKEN': '$HF_TOKEN'}" in message
    assert CANARY_TOKEN not in message


def test_other_secret_values_pass_through_unchanged() -> None:
    env, secrets = prepare_env_and_secrets({"A": "1"}, {"WANDB_API_KEY": "wandb-secret-value"}, CANARY_TOKEN)
    assert (env, secrets) == ({"A": "1"}, {"WANDB_API_KEY": "wandb-secret-value"})


def test_a_non_string_value_is_refused_naming_the_key() -> None:
    with pytest.raises(UserError, match="env 'N' must be a string, got 3"):
        prepare_env_and_secrets({"N": 3}, {}, None)  # type: ignore[dict-item]


def test_the_callers_token_comes_from_hf_token() -> None:
    assert caller_token() == CANARY_TOKEN


def test_no_token_anywhere_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    assert caller_token() is None


def test_the_redactor_removes_every_secret_and_the_token() -> None:
    redact = Redactor([CANARY_TOKEN, "wandb-secret-value"])
    text = f"token={CANARY_TOKEN} key=wandb-secret-value done"
    assert redact(text) == f"token={REDACTED} key={REDACTED} done"


def test_the_redactor_removes_the_longest_secret_whole() -> None:
    # One secret contains another: the longer must go whole, not leave its tail behind.
    redact = Redactor(["secret-value-1", "secret-value-1-and-more"])
    assert redact("x secret-value-1-and-more y") == f"x {REDACTED} y"


def test_the_redactor_leaves_values_under_four_characters_alone_so_text_is_not_mangled() -> None:
    redact = Redactor(["1", "on", "abc"])
    assert redact("step 1 of 10, resume=on, abc") == "step 1 of 10, resume=on, abc"


def test_the_redactor_removes_token_shaped_strings_it_was_not_told_about() -> None:
    other = "hf_" + "Z" * 36
    assert Redactor()(f"leaked {other}!") == f"leaked {REDACTED}!"


def test_the_redactor_cleans_nested_models() -> None:
    class Inner(BaseModel):
        lines: list[str]

    class Outer(BaseModel):
        text: str
        inner: Inner
        env: dict[str, str]

    redact = Redactor([CANARY_TOKEN])
    model = Outer(text=CANARY_TOKEN, inner=Inner(lines=["a", f"b {CANARY_TOKEN}"]), env={"K": CANARY_TOKEN})
    assert CANARY_TOKEN not in redact.model(model).model_dump_json()
    assert redact.model(model).inner.lines[0] == "a"


@pytest.mark.parametrize("env, secrets, words", [
    ({"A=B": "1"}, {}, "not a valid environment variable name"),  # '=' ends a name: the OS cannot set it
    ({"": "1"}, {}, "not a valid environment variable name"),
    ({"A B": "1"}, {}, "not a valid environment variable name"),
    ({"A": "x\x00y"}, {}, "NUL"),  # no environment variable can carry a NUL
    ({}, {"S": "x\x00y"}, "NUL"),
])
def test_names_and_values_the_os_cannot_take_are_refused_by_name(env, secrets, words):
    with pytest.raises(UserError, match=words):
        prepare_env_and_secrets(env, secrets, None)


def test_a_multi_line_secret_is_accepted_and_redacted_line_by_line():
    pem = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGGHHHH\n-----END KEY-----\n"
    _, secrets = prepare_env_and_secrets({}, {"KEY": pem}, None)
    assert secrets == {"KEY": pem}
    assert Redactor([pem])("x AAAABBBBCCCCDDDD y") == "x *** y"
