"""Issue 21, items 5 and 11: only a regular file that reads as Python (or a .py/.sh the caller names) is a script;
/proc, /sys and /dev never are, force never sends a token, and a FIFO is named as one.

The refusals live in resolve_script, which every backend calls when it submits: the preflight gate that `force`
skips comes before it, so no flag reaches past them. The tests call the backends directly."""

import os
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.jobs.local import LocalBackend
from hf_trainer.jobs.script_source import resolve_script
from hf_trainer.jobs.base import UvJobRequest

SYSTEM_FILES = ["/proc/self/environ", "/proc/self/cmdline", "/proc/1/../self/environ", "/dev/zero", "/dev/null",
                "/sys/kernel/uevent_seqnum"]


def _no_job_folders(backend: LocalBackend) -> bool:
    return not backend.jobs_dir.exists() or not any(backend.jobs_dir.iterdir())


@pytest.mark.parametrize("path", SYSTEM_FILES)
def test_system_files_are_never_scripts(path: str, tmp_path: Path):
    backend = LocalBackend(use_uv=False, cwd=tmp_path)
    with pytest.raises(UserError) as err:
        backend.uv(UvJobRequest(script=path))
    assert path in str(err.value) or "system file" in str(err.value)
    assert CANARY_TOKEN not in str(err.value)
    assert _no_job_folders(backend) and backend.ps(all=True) == []


def test_a_link_to_the_environment_is_refused_too(tmp_path: Path):
    link = tmp_path / "innocent.py"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(UserError, match="system file"):
        resolve_script(str(link))


def test_the_hub_backend_sends_no_system_file(fake_hub: FakeHub):
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice")
    with pytest.raises(UserError, match="system file"):
        backend.uv(UvJobRequest(script="/proc/self/environ"))
    assert fake_hub.count("POST", r"/api/jobs/") == 0


def test_a_readable_file_that_is_not_python_is_refused(tmp_path: Path):
    notes = tmp_path / "passwd"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    with pytest.raises(UserError, match="does not look like a Python script"):
        resolve_script(str(notes))
    named = tmp_path / "run.sh"  # neither .py, nor a shebang, nor a PEP 723 block
    named.write_text("echo hi\n", encoding="utf-8")
    with pytest.raises(UserError, match="does not look like a Python script"):
        resolve_script(str(named))
    named.write_text("#!/usr/bin/env python3\nprint('hi')\n", encoding="utf-8")  # a shebang says it is a script
    assert resolve_script(str(named)).kind == "path"


def test_a_fifo_is_named_as_one_and_never_opened(tmp_path: Path):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)  # opening it for reading would block forever
    with pytest.raises(UserError, match="named pipe"):
        resolve_script(str(fifo))
    plain = tmp_path / "pipe"
    os.mkfifo(plain)
    with pytest.raises(UserError, match="named pipe"):
        resolve_script(str(plain))


@pytest.mark.parametrize("where", ["file", "inline"])
def test_a_script_holding_the_token_is_refused_by_the_backend(where: str, tmp_path: Path):
    text = f"TOKEN = '{CANARY_TOKEN}'\nprint(TOKEN)\n"
    script = text
    if where == "file":
        path = tmp_path / "leaky.py"
        path.write_text(text, encoding="utf-8")
        script = str(path)
    backend = LocalBackend(use_uv=False, cwd=tmp_path)
    with pytest.raises(UserError, match="holds a Hugging Face token") as err:
        backend.uv(UvJobRequest(script=script))
    assert CANARY_TOKEN not in str(err.value)
    assert _no_job_folders(backend)


# Hardening III, finding 5: a dotenv file (KEY=value lines compile as Python) was shipped as a script, secrets and all.
@pytest.mark.parametrize("name", [".env", "prod.env", ".env.local", "settings", "vars.py"])
def test_a_dotenv_file_is_never_sent_as_a_script(name: str, tmp_path: Path, fake_hub: FakeHub):
    dotenv = tmp_path / name
    dotenv.write_text("# keys\nAPI_KEY=abc123secret\nexport DB_PASSWORD=hunter22\n", encoding="utf-8")
    with pytest.raises(UserError, match="dotenv") as info:
        resolve_script(str(dotenv))
    assert "hunter22" not in str(info.value)
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice")
    with pytest.raises(UserError, match="dotenv"):
        backend.uv(UvJobRequest(script=str(dotenv)))
    assert fake_hub.count("POST", r"/api/jobs/") == 0


def test_a_file_with_a_pep723_block_is_a_script_whatever_its_name(tmp_path: Path):
    job = tmp_path / "job"
    job.write_text("# /// script\n# dependencies = []\n# ///\nprint('hi')\n", encoding="utf-8")
    assert resolve_script(str(job)).kind == "path"


# Finding 12: a copy of a bundled training script at another path skipped the estimate (recognised by path only).
def test_a_copy_of_a_bundled_training_script_is_recognised_by_content(tmp_path: Path):
    from hf_trainer import paths
    from hf_trainer.jobs.submit import training_script

    copy = tmp_path / "my_training.py"
    copy.write_bytes((paths.scripts_dir() / "train_dpo.py").read_bytes())
    assert training_script(UvJobRequest(script=str(copy))) == "train_dpo.py"
    copy.write_text(copy.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert training_script(UvJobRequest(script=str(copy))) is None  # changed: another script, linted as such
