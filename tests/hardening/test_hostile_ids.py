"""Issue 21, item 1: ids and namespaces cannot leave their path segment.

huggingface_hub writes ids into its URLs unescaped: a job id '../../../api/repos/create?x=' turned `cancel` into
`POST /api/repos/create` with the caller's token. Every call below goes to the fake Hub through the real client; the
recorded request paths must keep the API's shape, with the hostile value inside one encoded segment.
"""

import re
from typing import Any, Callable

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN
from fakes.fake_hub import FakeHub
from hf_trainer.errors import UserError
from hf_trainer.jobs.hub import HubBackend, segment
from hf_trainer.jobs.hub_errors import Retry
from hf_trainer.jobs.webhooks import delete_webhook

HOSTILE = [
    "../../../api/repos/create?x=",  # dot segments, then a query that cuts the rest of the path off
    "../../../api/repos/delete?",
    "..",  # a dot segment on its own
    ".",
    "abc#fragment",  # '#' ends the path
    "a%2F..%2F..%2Fapi%2Fwhoami-v2",  # already encoded: must not decode into slashes on the way
    "a/b",
    "id?stage=RUNNING",
]

# Where each operation may send requests: /api/jobs/alice/<one segment>[/<action>], nothing else.
JOB_PATH = re.compile(r"^/api/jobs/alice(/[^/?#]+(/(cancel|logs|metrics))?)?$")
SCHEDULED_PATH = re.compile(r"^/api/scheduled-jobs/alice(/[^/?#]+(/(suspend|resume|run))?)?$")


@pytest.fixture
def backend(fake_hub: FakeHub) -> HubBackend:
    return HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), namespace="alice",
                      retry=Retry(attempts=1, sleep=lambda s: None))


def _paths(fake_hub: FakeHub) -> list[str]:
    return [r.path for r in fake_hub.requests if r.path != "/api/jobs/hardware"]


def _no_segment_is_a_dot_segment(path: str) -> bool:
    return all(part not in (".", "..") for part in path.split("/"))


OPERATIONS: list[tuple[str, Callable[[HubBackend, str], Any], re.Pattern[str]]] = [
    ("inspect", lambda b, i: b.inspect(i), JOB_PATH),
    ("cancel", lambda b, i: b.cancel(i), JOB_PATH),
    ("logs", lambda b, i: list(b.logs(i, tail=5)), JOB_PATH),
    ("metrics", lambda b, i: b.metrics(i), JOB_PATH),
    ("scheduled inspect", lambda b, i: b.scheduled_inspect(i), SCHEDULED_PATH),
    ("scheduled delete", lambda b, i: b.scheduled_action("delete", i), SCHEDULED_PATH),
    ("scheduled suspend", lambda b, i: b.scheduled_action("suspend", i), SCHEDULED_PATH),
    ("scheduled trigger", lambda b, i: b.scheduled_action("trigger", i), SCHEDULED_PATH),
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("name, operation, shape", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_a_hostile_job_id_stays_inside_its_path_segment(backend: HubBackend, fake_hub: FakeHub, name: str,
                                                        operation: Callable[[HubBackend, str], Any],
                                                        shape: re.Pattern[str], hostile: str):
    with pytest.raises(UserError):  # no such job: the id reached the Hub as one opaque segment
        operation(backend, hostile)
    paths = _paths(fake_hub)
    assert paths, "no request was made"
    for path in paths:
        assert shape.match(path), f"{name} with {hostile!r} sent {path}"
        assert _no_segment_is_a_dot_segment(path), path
    assert not any(p.startswith(("/api/repos", "/api/whoami")) for p in paths)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_namespace_stays_inside_its_path_segment(fake_hub: FakeHub, hostile: str):
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), retry=Retry(attempts=1))
    try:
        backend.ps(namespace=hostile)
    except UserError:
        pass
    for path in _paths(fake_hub):
        assert re.match(r"^/api/jobs/[^/?#]+$", path) and _no_segment_is_a_dot_segment(path), path


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_webhook_id_stays_inside_its_path_segment(fake_hub: FakeHub, hostile: str):
    api = HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN)
    with pytest.raises(UserError):
        delete_webhook(api, hostile)
    (path,) = _paths(fake_hub)
    assert re.match(r"^/api/settings/webhooks/[^/?#]+$", path) and _no_segment_is_a_dot_segment(path), path


def test_a_real_id_is_sent_unchanged(backend: HubBackend, fake_hub: FakeHub):
    job = fake_hub.add_job("RUNNING")
    assert backend.inspect(job["id"]).id == job["id"]
    assert _paths(fake_hub) == [f"/api/jobs/alice/{job['id']}"]


@pytest.mark.parametrize("value, encoded", [
    ("68780d00bbe36d38803f645f", "68780d00bbe36d38803f645f"),  # the Hub's ids pass as they are
    ("..", "%2E%2E"),
    ("a/b?c#d%e", "a%2Fb%3Fc%23d%25e"),
])
def test_segment_encodes_everything_that_could_leave_a_segment(value: str, encoded: str):
    assert segment(value) == encoded
