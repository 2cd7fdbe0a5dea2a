"""resolve_script: one string, three kinds of script, and a clear refusal for everything else."""

from pathlib import Path

import pytest

from hf_trainer.errors import UserError
from hf_trainer.jobs.script_source import resolve_script

HEADER = '# /// script\n# dependencies = ["trl>=1.16"]\n# ///\nprint("hi")\n'


def test_an_existing_file_is_read_with_its_name_and_header(tmp_path: Path):
    path = tmp_path / "train_sft.py"
    path.write_text(HEADER, encoding="utf-8")
    source = resolve_script(str(path))
    assert (source.kind, source.name, source.text, source.path) == ("path", "train_sft.py", HEADER, path.resolve())
    assert source.metadata == {"dependencies": ["trl>=1.16"]}


def test_a_relative_path_is_resolved_from_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "job.py").write_text("print(1)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    source = resolve_script("job.py")
    assert source.kind == "path" and source.path == (tmp_path / "job.py").resolve()


@pytest.mark.parametrize(
    "script",
    [
        HEADER,  # several lines with a header
        "print('hello')",  # one line that calls a function
        "import sys; print(sys.argv)",  # one line with statements
        "x = 1",  # an assignment
    ],
)
def test_python_text_is_inline(script: str):
    source = resolve_script(script)
    assert (source.kind, source.text, source.name, source.path) == ("inline", script, "script.py", None)


@pytest.mark.parametrize(
    "url, name",
    [
        ("https://huggingface.co/datasets/u/r/resolve/main/train_dpo.py", "train_dpo.py"),  # named .py file
        ("http://example.com/run?x=1", "script.py"),  # no .py name: a default name
    ],
)
def test_urls_are_passed_on_unread(url: str, name: str):
    source = resolve_script(url)
    assert (source.kind, source.url, source.name, source.text) == ("url", url, name, None)


@pytest.mark.parametrize(
    "script, message",
    [
        # a file that is not there
        ("missing_train.py", r"script file 'missing_train.py' does not exist .*inline .*URL"),
        ("./scripts/nope", r"script file './scripts/nope' does not exist"),  # no .py suffix either
        ("", r"script is empty"),  # nothing at all
        ("   \n ", r"script is empty"),  # only blanks
        ("https://", r"has no host"),  # a URL without a host
        ("# /// script\n# dependencies = []\nprint(1)\n", r"never closes"),  # unclosed PEP 723 block inline
        ("# /// script\n# dependencies = [\n# ///\nprint(1)\n", r"inline script .*not valid TOML"),  # bad TOML
    ],
)
def test_bad_scripts_are_refused_with_the_fix(script: str, message: str):
    with pytest.raises(UserError, match=message):
        resolve_script(script)


def test_a_folder_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="is a folder"):
        resolve_script(str(tmp_path))


def test_a_malformed_header_in_a_file_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.py"
    path.write_text("# /// script\n# dependencies = [\n# ///\n", encoding="utf-8")
    with pytest.raises(UserError, match="'broken.py' has a PEP 723 block at line 1 that is not valid TOML"):
        resolve_script(str(path))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path):
    path = tmp_path / "latin.py"
    path.write_bytes(b"print('\xe9')\n")
    with pytest.raises(UserError, match="not UTF-8"):
        resolve_script(str(path))
