"""Hardening III, finding 1: the caller's token (or any Hugging Face token) in ANY field of a job request is refused.

The red team put the token in labels, `--with` dependencies (`pkg@https://host/<token>/p.whl`), the launcher, the
image, volumes and the namespace (the token in the URL path), with and without force, on MCP, the CLI and scheduled
uv; and glued to a word character (`x_hf_...`), which a `\\b`-anchored pattern missed. Each case here asserts the job
is refused with a text that names the field and never shows the token, and that nothing reached the fake Hub.
"""

import asyncio
from typing import Any

import pytest
from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from huggingface_hub import HfApi

from hf_trainer.errors import UserError
from hf_trainer.jobs import submit
from hf_trainer.jobs.arguments import HubCommandJobRequest, HubUvJobRequest
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.preflight import PreflightReport
from hf_trainer.redaction import REDACTED, Redactor, StreamRedactor
from hf_trainer.tokens import looks_like_token, prepare_env_and_secrets, request_token_fields

SUBMITS = r"^/api/(jobs|scheduled-jobs)/"
# Another person's token, in the shape the Hub issues: refused like the caller's own.
OTHER = "hf_" + "OtherPersonsToken" + "0123456789abcdefghij"
SCRIPT = "print('hello')\n"

# (field, value): the token where the red team put it; "<T>" stands for the token.
FIELDS: list[tuple[str, Any]] = [
    ("labels", {"team": "x_<T>"}),                               # glued to a word character
    ("labels", {"<T>": "v"}),                                    # a label's name
    ("dependencies", ["pkg@https://host/<T>/p.whl"]),            # in a URL path (`--with`)
    ("launcher", ["env", "KEY=<T>"]),
    ("image", "registry.example/<T>/uv:latest"),
    ("volumes", ["hf://datasets/alice/<T>:/data:ro"]),
    ("namespace", "<T>"),                                        # the token in the URL path
    ("env", {"NOTE": "prefix_<T>_suffix"}),
    ("env", {"<T>": "1"}),                                       # an env name
    ("secrets", {"<T>": "secret-value"}),                        # a secret's NAME is shown in the spec
    ("script_args", ["--hub_model_id", "alice/<T>"]),
    ("python", "<T>"),
]


def _with(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace("<T>", token)
    if isinstance(value, list):
        return [_with(v, token) for v in value]
    return {_with(k, token): _with(v, token) for k, v in value.items()}


@pytest.fixture
def hub(fake_hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice")


def _refused(call: Any) -> str:
    with pytest.raises(UserError) as info:
        call()
    text = str(info.value)
    assert CANARY_TOKEN not in text and OTHER not in text
    return text


@pytest.mark.parametrize("token", [CANARY_TOKEN, OTHER], ids=["callers-token", "any-hf-token"])
@pytest.mark.parametrize("field,value", FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(FIELDS)])
def test_a_token_in_any_field_of_a_uv_job_is_found(field: str, value: Any, token: str) -> None:
    request = HubUvJobRequest.model_construct(**{**HubUvJobRequest(script=SCRIPT).model_dump(),
                                                 field: _with(value, token)})
    assert request_token_fields(request, token=CANARY_TOKEN), (field, value)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("field,value", [f for f in FIELDS if f[0] != "python"], ids=lambda v: str(v)[:20])
def test_the_pipeline_refuses_a_token_in_any_field_even_with_force(hub: HubBackend, fake_hub: FakeHub, field: str,
                                                                    value: Any, force: bool) -> None:
    request = HubUvJobRequest(script=SCRIPT, **{field: _with(value, CANARY_TOKEN)})
    text = _refused(lambda: submit.submit(request, hub, force=force))
    assert "token" in text
    assert fake_hub.count("POST", SUBMITS) == 0


def test_a_command_job_with_the_token_in_its_image_or_command_is_refused(hub: HubBackend, fake_hub: FakeHub) -> None:
    for request in (HubCommandJobRequest(image=f"registry.example/{CANARY_TOKEN}/py", command=["python", "-V"]),
                    HubCommandJobRequest(image="python:3.12", command=["curl", f"https://h/x_{OTHER}"])):
        _refused(lambda: submit.submit(request, hub, force=True))
    assert fake_hub.count("POST", SUBMITS) == 0


def test_a_scheduled_job_is_refused_when_linted_even_with_force(hub: HubBackend, fake_hub: FakeHub) -> None:
    request = HubUvJobRequest(script=SCRIPT, labels={"k": f"x_{CANARY_TOKEN}"})
    text = _refused(lambda: submit.check(request, hub, force=True, action="Not scheduled"))
    assert "Not scheduled" in text and "labels['k']" in text
    assert fake_hub.count("POST", SUBMITS) == 0


def test_a_reused_clean_report_does_not_let_a_token_through(hub: HubBackend, fake_hub: FakeHub) -> None:
    # train, rerun and retry pass the plan's report to submit: the fields are checked again as they are sent.
    request = HubUvJobRequest(script=SCRIPT, dependencies=[f"pkg@https://host/{CANARY_TOKEN}/p.whl"])
    clean = PreflightReport(ok=True, findings=[])
    _refused(lambda: submit.submit(request, hub, force=True, report=clean))
    assert fake_hub.count("POST", SUBMITS) == 0


def test_the_mcp_tool_refuses_a_token_in_labels_and_dependencies(fake_hub: FakeHub) -> None:
    from mcp import Client

    from hf_trainer.server import mcp

    async def go() -> Any:
        async with Client(mcp) as client:
            return await client.call_tool("hf_jobs", {
                "operation": "uv", "backend": "hub",
                "args": {"script": SCRIPT, "force": True, "labels": {"team": f"x_{CANARY_TOKEN}"},
                         "dependencies": [f"pkg@https://host/{OTHER}/p.whl"]}})

    result = asyncio.run(go())
    text = result.content[0].text
    assert result.is_error and "token" in text
    assert CANARY_TOKEN not in text and OTHER not in text
    assert fake_hub.count("POST", SUBMITS) == 0


def test_a_token_glued_to_word_characters_is_still_a_token_and_is_redacted() -> None:
    for text in (f"x_{OTHER}", f"{OTHER}_tail", f"id={OTHER}abc"):
        assert looks_like_token(text)
        assert OTHER[3:] not in Redactor()(text)
    stream = StreamRedactor()
    out = stream.feed(f"key x_{OTHER[:10]}".encode()) + stream.feed(f"{OTHER[10:]}_end\n".encode()) + stream.flush()
    assert OTHER.encode()[3:] not in out and REDACTED.encode() in out


# Finding 6: every secret of 4 characters or more is redacted; a shorter one is refused, with the reason.
def test_a_short_secret_is_redacted_and_a_shorter_one_refused_with_the_reason() -> None:
    assert Redactor(["1234"])("PIN is 1234.") == f"PIN is {REDACTED}."
    assert Redactor(["7654321"])("pin=7654321") == f"pin={REDACTED}"
    stream = StreamRedactor(["4321"])
    assert stream.feed(b"pin 43") + stream.feed(b"21 ok\n") + stream.flush() == f"pin {REDACTED} ok\n".encode()
    with pytest.raises(UserError, match=r"secrets 'PIN' is 3 character\(s\) long.*shorter than 4.*cannot be redacted"):
        prepare_env_and_secrets({}, {"PIN": "123"}, CANARY_TOKEN)
    _, secrets = prepare_env_and_secrets({}, {"PIN": "1234"}, CANARY_TOKEN)
    assert secrets == {"PIN": "1234"}


def test_a_local_job_printing_a_short_secret_never_shows_it_in_its_log(tmp_path) -> None:
    # The red team's 7-character PIN appeared in `logs`; a 4-character one is redacted too.
    from hf_trainer.jobs.base import Stage, UvJobRequest
    from hf_trainer.jobs.local import LocalBackend

    local = LocalBackend(use_uv=False, cwd=tmp_path)
    script = "import os\nprint('pin', os.environ['PIN'], 'code', os.environ['CODE'])\n"
    job = local.uv(UvJobRequest(script=script, secrets={"PIN": "7654321", "CODE": "4821"}))
    assert local.wait(job.id, timeout=120, poll_interval=0.1).stage == Stage.COMPLETED
    text = "\n".join(local.logs(job.id))
    assert "7654321" not in text and "4821" not in text and text.count(REDACTED) == 2, text
