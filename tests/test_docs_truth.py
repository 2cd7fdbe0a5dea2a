"""What the docs tell the agent is what the code does: quoted defaults come from the scripts' own parsers, every
reference page is reachable from the agent's entry files, and the run naming / job detection the docs describe."""

import re
from pathlib import Path

import pytest

from hf_trainer.runtime import train_common
from hf_trainer.script_defaults import script_defaults

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "SKILL.md", ROOT / "AGENTS.md", ROOT / "README.md", *sorted((ROOT / "references").glob("*.md"))]
SCRIPTS_WITH_PARSERS = ["train_sft.py", "train_dpo.py", "train_grpo.py", "train_reward.py", "train_kto.py",
                        "train_sft_unsloth.py", "evaluate.py", "generate_responses.py"]
# "`--max_length` defaults to 2048", "`--num_samples` (default 5)", "`--hub_strategy checkpoint` (default)"
QUOTED_DEFAULT = re.compile(r"`--(?P<flag>\w+)(?: (?P<inline>[\w.-]+))?`\s*(?:\(default(?:s)?(?::| is)?\s*`?(?P<a>[\w.+-]+)?`?"
                            r"|defaults to `?(?P<b>[\w.+-]+)`?)")


def _quoted_defaults() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        for match in QUOTED_DEFAULT.finditer(doc.read_text(encoding="utf-8")):
            value = match.group("a") or match.group("b") or match.group("inline")
            if value:
                found.append((doc.name, match.group("flag"), value))
    return found


def _same(quoted: str, default: object) -> bool:
    if isinstance(default, bool) or default is None:
        return True  # "(default private)" and the like are words, not values
    if isinstance(default, (int, float)):
        try:
            return float(quoted) == float(default)
        except ValueError:
            return False
    if isinstance(default, list):
        return quoted in default
    return quoted == str(default)


def test_the_docs_quote_defaults_and_there_are_some_to_check():
    assert len(_quoted_defaults()) >= 5


@pytest.mark.parametrize("doc,flag,quoted", _quoted_defaults())
def test_a_default_the_docs_quote_is_the_scripts_own(doc, flag, quoted):
    defaults = {name: script_defaults(name) for name in SCRIPTS_WITH_PARSERS}
    having = {name: d[flag] for name, d in defaults.items() if flag in d}
    if not having:
        pytest.skip(f"--{flag} is not an option of the training scripts (another tool's flag)")
    assert any(_same(quoted, value) for value in having.values()), (
        f"{doc} says --{flag} defaults to {quoted!r}; the scripts say {having}")


def test_every_reference_page_is_linked_from_agents_md_and_skill_md():
    pages = {p.name for p in (ROOT / "references").glob("*.md")}
    for entry in ("AGENTS.md", "SKILL.md"):
        text = (ROOT / entry).read_text(encoding="utf-8")
        assert {p for p in pages if f"references/{p}" not in text} == set(), entry


def test_the_trackio_project_the_docs_use_is_the_scripts_default():
    default = script_defaults("train_sft.py")["trackio_project"]
    assert default == train_common.DEFAULT_TRACKIO_PROJECT
    for doc in DOCS:
        for project in re.findall(r"--project (\S+)", doc.read_text(encoding="utf-8")):
            assert project.strip("`") in (default, "P", "<project>"), f"{doc.name}: --project {project}"


def test_runs_are_named_after_model_data_and_method():
    assert train_common.default_run_name("Qwen/Qwen2.5-0.5B", "trl-lib/Capybara", "sft", 0) == (
        "qwen2.5-0.5b-capybara-sft-19700101-0000")
    # local paths: the folder or file name without its data suffix
    assert train_common.default_run_name("/m/tiny-llama/", "/d/My Chats.jsonl", "dpo", 0).startswith(
        "tiny-llama-my-chats-dpo-")


@pytest.mark.parametrize("env,expected", [
    ({"HF_JOB_ID": "abc"}, True),  # transformers' variable alone
    ({"JOB_ID": "abc"}, True),  # TRL's variable alone
    ({"HF_JOB_FLAVOR": "a10g-large"}, True),
    ({"JOB_ID": "abc", "HF_TRAINER_BACKEND": "local"}, False),  # hf-trainer's local backend
    ({}, False),
])
def test_a_job_on_hf_jobs_is_recognised_from_either_variable(monkeypatch, env, expected):
    for name in ("HF_JOB_ID", "JOB_ID", "HF_JOB_FLAVOR", "HF_TRAINER_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert train_common.on_hf_jobs() is expected


def test_the_trackio_space_is_private_without_a_model_push():
    # transformers passes hub_private_repo to the Trackio Space; without it a run that does not push is public.
    args = train_common.argparse.Namespace(smoke=False, save_steps=10, save_total_limit=1, push_to_hub=False,
                                           hub_private_repo=True, hub_model_id=None, hub_strategy="checkpoint")
    assert train_common.hub_kwargs(args)["hub_private_repo"] is True
