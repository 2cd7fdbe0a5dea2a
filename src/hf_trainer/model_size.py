"""How big a model is: parameter count and architecture, from its files, never from its name.

A local folder: config.json arithmetic plus an exact count from the safetensors headers (read with the standard
library; no weights are loaded). A Hub repo: the Hub's safetensors parameter count (`model_info(expand=safetensors)`)
plus config.json. When neither source answers, a UserError says how to pass `num_params` instead. The anchor we replace
guessed sizes from names ("Llama-2-7b-hf" -> 1B); a name is never evidence here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx2
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    HfHubHTTPError,
    RevisionNotFoundError,
)

from hf_trainer.errors import UserError
from hf_trainer.hub_client import get_hf_api
from hf_trainer.runtime.estimate_math import (
    EstimateError,
    ModelFacts,
    facts_from_config,
    facts_from_count,
    facts_from_folder,
    with_count,
)

HOW_TO_PASS = ("Pass the parameter count yourself: num_params=7e9 in the estimate_cost tool, "
               "`hf-trainer estimate --num_params 7e9` on the command line.")


def _or_how() -> str:
    return HOW_TO_PASS[0].lower() + HOW_TO_PASS[1:]


def local_model_facts(folder: Path, num_params: int | None = None) -> ModelFacts:
    """Facts for a model saved in a local folder (config.json, *.safetensors)."""
    try:
        return facts_from_folder(folder, num_params)
    except EstimateError as exc:
        raise UserError(f"Cannot size the model in {folder}: {exc}. {HOW_TO_PASS}") from None


def _from_config(config: dict, source: str) -> ModelFacts:
    try:
        return facts_from_config(config, source=source)
    except EstimateError as exc:
        raise UserError(f"Cannot size the model from {source}: {exc}. {HOW_TO_PASS}") from None


def hub_model_facts(repo_id: str, api: HfApi, revision: str | None = None,
                    num_params: int | None = None) -> ModelFacts:
    """Facts for a Hub model: the Hub's safetensors parameter count and the repo's config.json."""
    try:
        info = api.model_info(repo_id, revision=revision, expand=["safetensors"])
    except GatedRepoError:
        raise UserError(f"Model {repo_id!r} is gated: accept its licence at {api.endpoint}/{repo_id} with the account "
                        f"whose token you use, or {_or_how()}") from None
    except RepositoryNotFoundError:
        raise UserError(f"Model {repo_id!r} was not found on {api.endpoint} (or it is private and the token cannot "
                        f"read it). Check the id, e.g. 'Qwen/Qwen2.5-0.5B', or {_or_how()}"
                        ) from None
    except RevisionNotFoundError:
        raise UserError(f"Model {repo_id!r} has no revision {revision!r}.") from None
    except HFValidationError:
        raise UserError(f"{repo_id!r} is neither a local folder nor a valid Hub model id (owner/name).") from None
    except HfHubHTTPError as exc:
        # The Hub answered, with an error of no known kind: say so rather than "could not reach".
        status = exc.response.status_code if exc.response is not None else "?"
        raise UserError(f"{api.endpoint} answered HTTP {status} when asked for model {repo_id!r}. Check the id, "
                        f"e.g. 'Qwen/Qwen2.5-0.5B', or {_or_how()}") from None
    except httpx2.HTTPError as exc:
        raise UserError(f"Could not reach {api.endpoint} to size model {repo_id!r} ({type(exc).__name__}). "
                        f"{HOW_TO_PASS}") from None
    hub_count = int(info.safetensors.total) if info.safetensors else 0
    facts = None
    try:
        path = api.hf_hub_download(repo_id, "config.json", revision=revision)
        facts = _from_config(json.loads(Path(path).read_text(encoding="utf-8")), f"{repo_id}/config.json")
    except RemoteEntryNotFoundError:
        facts = None  # no config.json (e.g. a GGUF-only repo): the safetensors count alone still serves
    except (LocalEntryNotFoundError, httpx2.HTTPError) as exc:
        raise UserError(f"Could not download config.json of {repo_id!r} from {api.endpoint} "
                        f"({type(exc).__name__}). {HOW_TO_PASS}") from None
    if num_params:
        return facts_from_count(num_params, facts, source="num_params (given)")
    if facts and hub_count:
        counts = info.safetensors.parameters if info.safetensors else {}  # hub_count came from them
        dtype = max(counts, key=lambda name: counts[name])
        return with_count(facts, hub_count, dtype, f"{repo_id} (Hub safetensors metadata + config.json)")
    if facts:
        return facts
    if hub_count:
        return facts_from_count(hub_count, source=f"{repo_id} (Hub safetensors metadata)")
    raise UserError(f"The Hub has neither safetensors metadata nor a config.json for {repo_id!r}, so its size is "
                    f"unknown. {HOW_TO_PASS}")


def model_facts(model_name_or_path: str | None, *, num_params: int | None = None, api: HfApi | None = None,
                revision: str | None = None) -> ModelFacts:
    """Parameter count and architecture of a local folder or Hub model; `num_params` overrides the count."""
    if num_params is not None and num_params <= 0:
        raise UserError(f"num_params must be a positive number of parameters, got {num_params!r}.")
    if not model_name_or_path:
        if num_params:
            return facts_from_count(num_params, source="num_params (given)")
        raise UserError(f"No model given. Pass model_name_or_path (a Hub id or a local folder). {HOW_TO_PASS}")
    if len(model_name_or_path) > 1000 or "\x00" in model_name_or_path:
        raise UserError(f"model_name_or_path {model_name_or_path[:60]!r}... ({len(model_name_or_path)} characters) is "
                        f"neither a Hub id (owner/name) nor a folder path. {HOW_TO_PASS}")
    local = Path(os.path.expanduser(model_name_or_path))  # Path.expanduser raises for an unknown ~user
    try:
        is_folder = local.is_dir()
    except OSError:  # a name too long for the file system is no folder
        is_folder = False
    if is_folder:
        return local_model_facts(local, num_params)
    if model_name_or_path.startswith((".", "/", "~")):
        raise UserError(f"Local folder {model_name_or_path!r} does not exist.")
    api = api or get_hf_api()
    return hub_model_facts(model_name_or_path, api, revision=revision, num_params=num_params)
