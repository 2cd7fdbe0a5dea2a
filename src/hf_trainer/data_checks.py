"""data_checks: before money, the model and the data a bundled training job reads exist and its token can read them.

A job whose model or dataset does not exist, is gated without access, or lacks the config, split or revision the
script asks for starts, pays for a GPU, downloads, and dies. This asks the Hub first, with the token the job will
carry (its HF_TOKEN secret; none when the job has no such secret):

- the model and the dataset: the Hub's auth-check (404: missing or private to this token; 403: gated without access);
- the dataset's revision: its info at that revision;
- the config and the splits: the dataset viewer's /splits (the main branch), the script's defaults included (a
  `--dataset_train_split` left at 'train' on ultrafeedback_binarized, a multi-config dataset without
  `--dataset_config`).

Each problem is an error Finding whose rule is in DATA_RULES: the submit pipeline refuses it on every route, and
`force` does not pass it (a job that can only fail is not worth forcing). A Hub or viewer that cannot be reached,
or that cannot tell, is a warning: the job may still work.
"""

from typing import Any, Callable, Literal

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from hf_trainer.preflight import Finding
from hf_trainer.runtime import dataset_files, dataset_viewer
from hf_trainer.runtime.splits import train_split
from hf_trainer.tokens import TOKEN_REFERENCES, caller_token

# Rules a job cannot pass with `force`: the job would only fail, after the flavor started billing.
DATA_RULES = frozenset({"model-missing", "model-gated", "dataset-missing", "dataset-gated", "dataset-revision-missing",
                        "dataset-config-missing", "dataset-split-missing"})
UNREACHABLE = "hub-unreachable"


def job_token(secrets: dict[str, str] | None) -> str | None:
    """The token the job will carry: its HF_TOKEN secret ('$HF_TOKEN' stands for the caller's), else none."""
    value = (secrets or {}).get("HF_TOKEN")
    if value is None:
        return None
    return caller_token() if value.strip() in TOKEN_REFERENCES else value


def _is_hub_id(name: str | None) -> bool:
    return bool(name) and not dataset_files.is_local(str(name)) and str(name).count("/") == 1


def _token_hint(token: str | None) -> str:
    return ("" if token else " The job carries no HF_TOKEN secret, so it reads the Hub anonymously: add "
            "secrets HF_TOKEN=$HF_TOKEN (train and the bundled routes do) when the repo needs your token.")


def repo_access(api: Any, kind: str, repo: str, token: str | None) -> Finding | None:
    """An error Finding when `repo` is missing or gated for `token`; a warning when the Hub cannot tell; else None."""
    what = "Model" if kind == "model" else "Dataset"
    page = f"{api.endpoint}/{'datasets/' if kind == 'dataset' else ''}{repo}"
    flag = "--model_name_or_path" if kind == "model" else "--dataset_name"
    try:
        validate_repo_id(repo)  # the id goes into a URL path as it is: nothing but owner/name reaches the Hub
        api.auth_check(repo, repo_type=kind, token=token or False)
    except HFValidationError as exc:
        return Finding(severity="error", rule=f"{kind}-missing",
                       message=f"{what} {repo!r} is not a valid Hub id ({str(exc).splitlines()[0][:160]}).",
                       fix=f"Pass {flag} as owner/name (letters, digits, '-', '_', '.'), or a local path.")
    except GatedRepoError:
        return Finding(severity="error", rule=f"{kind}-gated",
                       message=f"{what} {repo!r} is gated, and the job's token has not been granted access: the job "
                               "would stop at the download.",
                       fix=f"Accept its conditions at {page} with the account whose token the job uses (access may "
                           f"need the authors' approval), then submit again; or pass another {flag}."
                           + _token_hint(token))
    except RepositoryNotFoundError:
        return Finding(severity="error", rule=f"{kind}-missing",
                       message=f"{what} {repo!r} does not exist on {api.endpoint}, or is private and the job's "
                               "token cannot read it: the job would stop at the download.",
                       fix=f"Check the id (owner/name, as on its Hub page) and pass the right {flag}; for a private "
                           "repo use a token that can read it." + _token_hint(token))
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        return Finding(severity="warning", rule=UNREACHABLE,
                       message=f"The Hub answered HTTP {status} when asked whether the job can read {kind} "
                               f"{repo!r}; not checked.",
                       fix="Check the id on the Hub before submitting, or retry when the Hub answers.")
    except (httpx2.HTTPError, OSError) as exc:
        return Finding(severity="warning", rule=UNREACHABLE,
                       message=f"Could not reach {api.endpoint} ({type(exc).__name__}) to check that {kind} "
                               f"{repo!r} exists and the job's token can read it.",
                       fix="Check the network (or HF_ENDPOINT); the job is submitted without this check.")
    return None


def _revision(api: Any, dataset: str, revision: str, token: str | None) -> Finding | None:
    try:
        api.dataset_info(dataset, revision=revision, token=token or False)
    except RevisionNotFoundError:
        return Finding(severity="error", rule="dataset-revision-missing",
                       message=f"Dataset {dataset!r} has no revision {revision!r} (branch, tag or commit).",
                       fix=f"Pass an existing --dataset_revision (see {api.endpoint}/datasets/{dataset}/tree/main), "
                           "or leave it out to read the main branch.")
    except HFValidationError:
        return Finding(severity="error", rule="dataset-revision-missing",
                       message=f"{revision!r} is not a valid revision of dataset {dataset!r}.",
                       fix="Pass a branch, tag or commit as --dataset_revision, or leave it out.")
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as exc:
        return Finding(severity="warning", rule=UNREACHABLE,
                       message=f"Could not check revision {revision!r} of dataset {dataset!r} "
                               f"({type(exc).__name__}).",
                       fix="Check the revision on the Hub before submitting.")
    return None


def _layout(viewer: Any, dataset: str, config: str | None, train: str | None, test: str | None,
            method: str | None, on_main: bool) -> list[Finding]:
    """Config and splits against the viewer's /splits: errors when the script's request cannot be met."""
    try:
        listed = viewer.splits(dataset)
    except dataset_viewer.ViewerError as exc:
        return [Finding(severity="warning", rule=UNREACHABLE,
                        message=f"The dataset viewer could not list the splits of {dataset!r} ({exc}); config and "
                                "split were not checked.",
                        fix="Check them on the dataset's Hub page, or run dataset_inspect on a local copy.")]
    if not listed:
        return [Finding(severity="warning", rule=UNREACHABLE,
                        message=f"The dataset viewer lists no splits for {dataset!r} yet; config and split were "
                                "not checked.", fix="Check them on the dataset's Hub page.")]
    # The viewer shows the main branch; another revision may differ.
    severity: Literal["error", "warning"] = "error" if on_main else "warning"
    configs = list(dict.fromkeys(item["config"] for item in listed))
    if config is None and "default" not in configs and len(configs) > 1:
        return [Finding(severity=severity, rule="dataset-config-missing",
                        message=f"Dataset {dataset!r} has {len(configs)} configs and no default one, and the job "
                                "names none: loading it would stop with 'Config name is missing'.",
                        fix=f"Pass --dataset_config with one of: {', '.join(configs[:12])}"
                            + (", ..." if len(configs) > 12 else "") + " (dataset_inspect reads the first, "
                            f"{configs[0]!r}, and a train plan passes it).")]
    chosen = config if config is not None else ("default" if "default" in configs else configs[0])
    if chosen not in configs:
        return [Finding(severity=severity, rule="dataset-config-missing",
                        message=f"Dataset {dataset!r} has no config {chosen!r}; its configs: "
                                f"{', '.join(configs[:12])}{', ...' if len(configs) > 12 else ''}.",
                        fix="Pass one of them as --dataset_config.")]
    names = [item["split"] for item in listed if item["config"] == chosen]
    findings = []
    for flag, split in (("--dataset_train_split", train), ("--dataset_test_split", test)):
        if split is None or split in names:
            continue
        suggestion = train_split(names, method) if flag == "--dataset_train_split" else None
        findings.append(Finding(
            severity=severity, rule="dataset-split-missing",
            message=f"Dataset {dataset!r} (config {chosen!r}) has no split {split!r}; its splits: {', '.join(names)}. "
                    "The job would stop after starting with \"Split not found\".",
            fix=(f"Pass {flag} {suggestion}" + (f" (the split {method.upper()} trains on)" if method else "")
                 if suggestion else f"Pass one of them as {flag}") + "; dataset_inspect names the split each method "
                "trains on."))
    return findings


def check_training_data(values: dict[str, Any], *, token: str | None, method: str | None = None,
                        api: Any = None, viewer: Any = None,
                        api_factory: Callable[[str | None], Any] | None = None) -> list[Finding]:
    """Findings for a bundled training script's model and dataset, from its parsed arguments (`values`: the script's
    parser applied to the job's arguments, defaults included), read with `token` (the job's: `job_token`).

    `api` and `viewer` default to the configured Hub client and dataset viewer; tests pass fakes."""
    model, dataset = values.get("model_name_or_path"), values.get("dataset_name")
    if not _is_hub_id(model) and not _is_hub_id(dataset):
        return []
    if api is None:
        from hf_trainer.hub_client import get_hf_api

        api = (api_factory or (lambda t: get_hf_api(t, anonymous=not t)))(token)
    findings: list[Finding] = []
    if _is_hub_id(model):
        found = repo_access(api, "model", str(model), token)
        if found is not None:
            findings.append(found)
            if found.rule == UNREACHABLE:
                return findings  # the same Hub would not answer for the dataset either
    if not _is_hub_id(dataset):
        return findings
    found = repo_access(api, "dataset", str(dataset), token)
    if found is not None:
        return findings + [found]
    revision = values.get("dataset_revision")
    if revision and revision != "main":
        found = _revision(api, str(dataset), revision, token)
        if found is not None:
            return findings + [found]
    if viewer is None:
        from hf_trainer.dataset_inspect import default_viewer_url

        viewer = dataset_viewer.DatasetViewer(default_viewer_url(), token=token, timeout=15.0)
    return findings + _layout(viewer, str(dataset), values.get("dataset_config"), values.get("dataset_train_split"),
                              values.get("dataset_test_split"), method, on_main=not revision or revision == "main")


def force_note() -> str:
    """What `force` still overrides, for refusal messages."""
    return ("force still overrides the time, memory, dataset-format and other findings, but not a model or dataset "
            "that is missing, gated for the job's token, or lacks the config, split or revision asked for (the job "
            "could only fail), nor a token in the job's text")
