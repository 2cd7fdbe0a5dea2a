"""Job webhooks against the fake Hub: the requests are the ones huggingface_hub sends; secrets never shown."""

import secrets as _secrets

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub, Request, Response
from hf_trainer.errors import UserError
from hf_trainer.jobs.arguments import HubUvJobRequest
from hf_trainer.jobs.hub import HubBackend
from hf_trainer.operations import JobsResult, parse_call, run_call
from hf_trainer.jobs.webhooks import create_job_webhook, delete_webhook, list_webhooks, parse_watched

TRAIN_ARGS = ["--model_name_or_path", "Qwen/Qwen2.5-0.5B", "--dataset_name", "alice/support-chats", "--push_to_hub",
              "--hub_model_id", "alice/support-bot"]


def add_webhook_routes(hub: FakeHub) -> dict[str, dict]:
    """/api/settings/webhooks as the Hub serves it: a job webhook copies its source job's spec, without secrets."""
    store: dict[str, dict] = {}

    @hub.route("POST", r"/api/settings/webhooks")
    def create(req: Request) -> dict | Response:
        body = req.body or {}
        source = hub.jobs.get(body.get("jobSourceId") or "")
        if body.get("jobSourceId") and source is None:
            return Response(404, {"error": "Job not found"}, {"X-Error-Message": "Job not found"})
        job = None
        if source is not None:
            job = {k: source[k] for k in ("command", "arguments", "environment", "flavor", "dockerImage")
                   if k in source}
            job["secrets"] = {name: None for name in body.get("secrets") or {}}
        webhook = {"id": _secrets.token_hex(12), "watched": body["watched"], "domains": body["domains"],
                   "secret": body.get("secret"), "disabled": False, "url": body.get("url"), "job": job}
        store[webhook["id"]] = webhook
        return {"webhook": webhook}

    @hub.route("GET", r"/api/settings/webhooks")
    def list_all(req: Request) -> list:
        return list(store.values())

    @hub.route("DELETE", r"/api/settings/webhooks/(?P<wid>[^/]+)")
    def delete(req: Request) -> dict | Response:
        if store.pop(req.groups["wid"], None) is None:
            return Response(404, {"error": "Webhook not found"}, {"X-Error-Message": "Webhook not found"})
        return {}

    return store


@pytest.fixture
def api(fake_hub: FakeHub) -> HfApi:
    add_webhook_routes(fake_hub)
    return HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)


@pytest.fixture
def backend(api: HfApi) -> HubBackend:
    return HubBackend(api)


def test_a_webhook_on_a_dataset_starts_the_training_job_with_the_token_as_a_secret(fake_hub, api, backend):
    source = fake_hub.add_job("COMPLETED", command=["uv", "run", "train_sft.py", *TRAIN_ARGS], flavor="a10g-large")

    view, job_id = create_job_webhook(api, watched=["dataset:alice/support-chats"], job_id=source["id"],
                                      backend=backend)

    sent = fake_hub.bodies("POST", r"^/api/settings/webhooks$")[0]
    assert sent["jobSourceId"] == source["id"] and job_id == source["id"]
    assert sent["watched"] == [{"type": "dataset", "name": "alice/support-chats"}]
    assert sent["domains"] == ["repo"]  # commits only, not discussions
    assert sent["secrets"] == {"HF_TOKEN": CANARY_TOKEN}  # "$HF_TOKEN" expanded, sent encrypted by the Hub
    assert len(sent["secret"]) >= 24  # a signing secret is always set
    assert view.job_flavor == "a10g-large" and view.job_secret_names == ["HF_TOKEN"] and view.has_secret
    assert "--hub_model_id" in view.job_command
    assert CANARY_TOKEN not in view.model_dump_json() + view.render() and sent["secret"] not in view.render()

    listed = list_webhooks(api)
    assert [w.id for w in listed] == [view.id] and listed[0].watched == ["dataset:alice/support-chats"]

    delete_webhook(api, view.id)
    assert list_webhooks(api) == []
    assert fake_hub.count("DELETE", rf"^/api/settings/webhooks/{view.id}$") == 1


def test_a_script_request_becomes_a_cancelled_source_job_so_nothing_trains_until_an_event(fake_hub, api, backend):
    request = HubUvJobRequest(script="print('retrain')", script_args=TRAIN_ARGS, flavor="a10g-large",
                              secrets={"HF_TOKEN": "$HF_TOKEN"})
    view, job_id = create_job_webhook(api, watched=["dataset:alice/support-chats"], backend=backend,
                                      request=request)
    assert fake_hub.jobs[job_id]["status"]["stage"] == "CANCELED"
    assert fake_hub.bodies("POST", r"^/api/settings/webhooks$")[0]["jobSourceId"] == job_id
    assert view.job_command[:2] == ["uv", "run"] and view.job_command[-len(TRAIN_ARGS):] == TRAIN_ARGS


@pytest.mark.parametrize(
    "watched, message",
    [
        # the job's own output repo: each run would trigger the next
        (["model:alice/support-bot"], "would start another one"),
        # the namespace it pushes into: same loop
        (["user:alice"], "would start another one"),
        # no type
        (["alice/support-chats"], "is not TYPE:NAME"),
        # unknown type
        (["repo:alice/x"], "is not TYPE:NAME"),
        # a user given as a repo
        (["org:alice/x"], "an org is a single name"),
        # nothing
        ([], "watched is empty"),
    ],
)
def test_bad_or_looping_webhooks_are_refused_before_anything_is_created(fake_hub, api, backend, watched, message):
    source = fake_hub.add_job("COMPLETED", command=["uv", "run", "train_sft.py", *TRAIN_ARGS])
    with pytest.raises(UserError, match=message):
        create_job_webhook(api, watched=watched, job_id=source["id"], backend=backend)
    assert fake_hub.count("POST", r"^/api/settings/webhooks$") == 0


def test_deleting_an_unknown_webhook_names_the_id_and_how_to_list(api):
    with pytest.raises(UserError, match="No webhook 'nope'.*webhook ps"):
        delete_webhook(api, "nope")


def test_a_refused_token_is_reported_with_the_login_hint(fake_hub, api):
    fake_hub.fail("GET", r"^/api/settings/webhooks$", 401)
    with pytest.raises(UserError, match="401") as raised:
        list_webhooks(api)
    assert "hf auth login" in str(raised.value)


def test_watched_items_parse_from_type_name_strings_and_dicts():
    assert parse_watched(["dataset:a/b", {"type": "org", "name": "hf"}]) == [
        {"type": "dataset", "name": "a/b"}, {"type": "org", "name": "hf"}]


# --- the hf_jobs operations (jobs/arguments.py + jobs/tool.py + views.py) -------------------------------------------------


def _tool(operation: str, args: dict, backend) -> JobsResult:
    from hf_trainer.operations import present

    return present(run_call(parse_call(operation, args), backend))


def test_hf_jobs_webhook_operations_create_list_and_delete(fake_hub, api, backend):
    source = fake_hub.add_job("COMPLETED", command=["uv", "run", "train_sft.py", *TRAIN_ARGS], flavor="a10g-large")
    created = _tool("webhook create", {"watched": ["dataset:alice/support-chats"], "job_id": source["id"]}, backend)
    assert created.webhook.watched == ["dataset:alice/support-chats"] and "each event starts a copy" in created.text
    assert fake_hub.bodies("POST", r"^/api/settings/webhooks$")[0]["secrets"] == {"HF_TOKEN": CANARY_TOKEN}

    listed = _tool("webhook_ps", {}, backend)  # spellings normalise like the other operations
    assert [w.id for w in listed.webhooks] == [created.webhook.id]
    deleted = _tool("webhook delete", {"webhook_id": created.webhook.id}, backend)
    assert "deleted" in deleted.text and _tool("webhook ps", {}, backend).webhooks == []
    for result in (created, listed, deleted):
        assert CANARY_TOKEN not in result.model_dump_json()


def test_hf_jobs_webhook_create_from_a_script_submits_a_cancelled_template_job(fake_hub, api, backend):
    result = _tool("webhook create", {"watched": ["dataset:alice/support-chats"], "script": "print('retrain')",
                                      "script_args": TRAIN_ARGS, "flavor": "a10g-large",
                                      "secrets": {"HF_TOKEN": "$HF_TOKEN"}}, backend)
    (job,) = fake_hub.jobs.values()
    assert job["status"]["stage"] == "CANCELED" and "was cancelled at once" in result.text
    assert fake_hub.bodies("POST", r"^/api/settings/webhooks$")[0]["jobSourceId"] == job["id"]


@pytest.mark.parametrize(
    "args, message",
    [
        # two sources of the job
        ({"watched": ["dataset:a/b"], "job_id": "abc123", "script": "print(1)"}, "needs one job to start"),
        # no source
        ({"watched": ["dataset:a/b"]}, "needs one job to start"),
        # a domain that does not exist
        ({"watched": ["dataset:a/b"], "job_id": "abc123", "domains": ["commits"]}, "domains 'commits' must be 'repo' or "
         "'discussion'"),
        # an argument the operation does not take
        ({"watched": ["dataset:a/b"], "job_id": "abc123", "webhook_url": "http://x"}, "does not take the argument"),
    ],
)
def test_hf_jobs_webhook_create_refuses_bad_arguments(backend, args, message):
    with pytest.raises(UserError, match=message):
        _tool("webhook create", args, backend)


def test_webhook_operations_on_the_local_backend_say_they_need_the_hub():
    from hf_trainer.jobs.local import LocalBackend

    with pytest.raises(UserError, match="exists only on Hugging Face Jobs"):
        _tool("webhook ps", {}, LocalBackend())


# --- the same operations from the command line (generated from the operation table) ----------------------------


def test_webhook_commands_on_the_command_line_create_list_and_delete(fake_hub, api, capsys):
    import json

    from hf_trainer.cli import main

    source = fake_hub.add_job("COMPLETED", command=["uv", "run", "train_sft.py", *TRAIN_ARGS], flavor="a10g-large")
    assert main(["jobs", "webhook", "create", "--json", "--watched", "dataset:alice/support-chats",
                 "--job_id", source["id"]]) == 0
    created = json.loads(capsys.readouterr().out)["webhook"]
    assert created["watched"] == ["dataset:alice/support-chats"]
    assert main(["jobs", "webhook", "ps"]) == 0
    assert created["id"] in capsys.readouterr().out
    assert main(["jobs", "webhook", "delete", created["id"]]) == 0
    assert f"Webhook {created['id']} deleted." in capsys.readouterr().out
    # refused as the tool refuses it, before any request
    assert main(["jobs", "webhook", "delete", "../../api/repos/delete?"]) == 2
    assert "is not a webhook id" in capsys.readouterr().err
    assert CANARY_TOKEN not in capsys.readouterr().out


def test_jobs_uv_takes_an_image_on_the_command_line(fake_hub, capsys):
    from hf_trainer.cli import main

    assert main(["jobs", "uv", "--backend", "hub", "--image", "ghcr.io/astral-sh/uv:python3.11-bookworm",
                 "print('hi')\n"]) == 0
    (spec,) = fake_hub.bodies("POST", r"^/api/jobs/alice$")
    assert spec["dockerImage"] == "ghcr.io/astral-sh/uv:python3.11-bookworm"
