"""Issue 21, item 2: secrets are redacted whole and line by line, on streams cut anywhere, on both backends."""

import random

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from hf_trainer.jobs.base import UvJobRequest
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.redaction import Redactor, StreamRedactor, secret_variants

PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "QyNTUxOQAAACB1c2VyQGhvc3QAAAAA0123456789abcdefghijklmnopqrstuvwxyzABCD\n"
       "-----END OPENSSH PRIVATE KEY-----")
OTHER = "another-secret-value"
SECRET_LINES = [line for line in [*PEM.splitlines(), OTHER, CANARY_TOKEN] if len(line) >= 8]


def _stream(text: bytes, seed: int) -> bytes:
    """`text` through a StreamRedactor in random pieces (1 to 40 bytes), as a pipe delivers it."""
    rng = random.Random(seed)
    redactor = StreamRedactor([PEM, OTHER, CANARY_TOKEN])
    out, i = b"", 0
    while i < len(text):
        n = rng.randint(1, 40)
        out += redactor.feed(text[i:i + n])
        i += n
    return out + redactor.flush()


OUTPUT = (f"whole {PEM}\nwindows {PEM.replace(chr(10), chr(13) + chr(10))}\none {PEM.splitlines()[1]}\n"
          f"other={OTHER};token={CANARY_TOKEN} progress 10%\r20%\rdone\n").encode()


@pytest.mark.parametrize("seed", range(20))
def test_a_stream_cut_anywhere_never_lets_a_secret_line_through(seed: int):
    out = _stream(OUTPUT, seed)
    for line in SECRET_LINES:
        assert line.encode() not in out, line
    assert out.endswith(b" progress 10%\r20%\rdone\n")  # what is not secret passes unchanged


def test_output_with_no_secret_passes_at_once_and_unchanged():
    redactor = StreamRedactor([PEM, OTHER])
    assert redactor.feed(b"step 1 loss 2.5\n") == b"step 1 loss 2.5\n"  # nothing held back: follow stays live
    assert redactor.feed(b"\xff\xfe not utf-8\n") == b"\xff\xfe not utf-8\n"


def test_each_line_of_a_multi_line_secret_is_a_form_to_redact():
    forms = secret_variants(PEM)
    assert PEM in forms and all(line in forms for line in PEM.splitlines())
    assert Redactor([PEM])("key line: " + PEM.splitlines()[2]) == "key line: ***"


def test_hub_logs_redact_each_line_of_a_secret_the_job_was_given(fake_hub: FakeHub):
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice")
    job = backend.uv(UvJobRequest(script="print(1)\n", secrets={"SSH_KEY": PEM, "OTHER": OTHER}))
    fake_hub.logs[job.id] = ["printing the key:", *PEM.splitlines(), f"other {OTHER}", f"token {CANARY_TOKEN}"]
    shown = "\n".join(backend.logs(job.id))
    assert "printing the key:" in shown
    for line in SECRET_LINES:
        assert line not in shown, line


def test_hub_logs_are_capped_per_line_and_per_answer(fake_hub: FakeHub):
    from hf_trainer.jobs.base import MAX_LOG_ANSWER_CHARS, MAX_LOG_LINE_CHARS

    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice")
    many = [f"line {i:05d} " + "y" * 240 for i in range(1_000)]  # 250,000 characters
    job = fake_hub.add_job("COMPLETED", logs=[*many, "x" * 100_000, "last"])
    lines = list(backend.logs(job["id"]))
    assert lines[-1] == "last" and "line cut, 100000 characters" in lines[-2]
    assert "earlier lines not shown" in lines[0] and "/jobs/alice/" in lines[0]
    assert sum(len(line) + 1 for line in lines) <= MAX_LOG_ANSWER_CHARS + MAX_LOG_LINE_CHARS
