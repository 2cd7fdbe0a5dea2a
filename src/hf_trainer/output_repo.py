"""The output model repo a Hub training run pushes to when the person names none: `<you>/<model>-<method>`.

The person's namespace is the one jobs run in (whoami, asked once by the backend). When that repo already exists and
holds a checkpoint of another run, a suffix (-2, -3, ...) keeps the two apart; a repo whose last checkpoint this
same run made (same base model, method and data) is kept, so submitting again continues it (resume auto). The repo
is private unless the person asks otherwise, and the plan shows the name before anything is spent.
"""

import json
import re
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hf_trainer.errors import UserError
from hf_trainer.runtime.resume import RUN_RECORD

# How many suffixed names are tried before giving up and asking for a name.
MAX_SUFFIX = 20


def repo_name(model: str, method: str) -> str:
    """'Qwen/Qwen2.5-0.5B', 'sft' -> 'Qwen2.5-0.5B-sft' (a repo name: letters, digits, '-', '_', '.')."""
    last = model.rstrip("/").replace("\\", "/").split("/")[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", last).strip("-.") or "model"
    return f"{clean[:80]}-{method}"


def _same_run(record: dict, model: str, method: str, dataset: str, config: str | None, split: str | None) -> bool:
    saved = record.get("dataset") or {}
    return (record.get("base_model") == model and record.get("method") == method and saved.get("name") == dataset
            and saved.get("config") == config and saved.get("split") == split)


def _checkpoint_record(api: Any, repo_id: str) -> dict | None:
    """The run record of the repo's last pushed checkpoint, or None when it has none (or it cannot be read)."""
    try:
        path = api.hf_hub_download(repo_id, f"last-checkpoint/{RUN_RECORD}")
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, HfHubHTTPError,
            OSError, ValueError):
        return None  # no readable record: not this run's repo


def _exists(api: Any, repo_id: str) -> bool:
    try:
        api.model_info(repo_id)
    except RepositoryNotFoundError:
        return False
    return True


def default_hub_model_id(api: Any, namespace: str, model: str, method: str, dataset: str,
                         config: str | None = None, split: str | None = None) -> tuple[str, str]:
    """(repo id, the plan's words for it): `<namespace>/<model>-<method>`, suffixed while the name is taken by a repo
    that is not this run's checkpoint repo. UserError when the Hub cannot be asked (the person then names one)."""
    base = f"{namespace}/{repo_name(model, method)}"
    taken: list[str] = []
    try:
        for number in range(1, MAX_SUFFIX + 1):
            candidate = base if number == 1 else f"{base}-{number}"
            if not _exists(api, candidate):
                why = f"default in your namespace ({namespace})"
                if taken:
                    why += f"; {', '.join(taken)} already exist{'s' if len(taken) == 1 else ''} with other content"
                return candidate, why
            record = _checkpoint_record(api, candidate)
            if record is not None and _same_run(record, model, method, dataset, config, split):
                return candidate, (f"default in your namespace ({namespace}); it holds a checkpoint of this same run "
                                   "(model, method, data), which resume auto continues")
            taken.append(candidate)
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as exc:
        raise UserError(f"Could not check whether {base} exists on the Hub ({type(exc).__name__}), so no default "
                        "output repo was chosen. Pass hub_model_id='<you>/<name>'.") from None
    raise UserError(f"{base} and {MAX_SUFFIX - 1} suffixed names already exist in {namespace}. Pass hub_model_id "
                    "with a new name.")
