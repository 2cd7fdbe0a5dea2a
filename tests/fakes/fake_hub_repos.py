"""Repo creation and commits on the fake Hub (tests/fakes/fake_hub.py), for the real huggingface_hub 2.4 client.

`add_repo_routes(fake_hub)` registers:
- POST /api/validate-yaml (the client checks README.md's metadata before a commit): the front matter must parse
  as a YAML mapping, else a 400 with the Hub's {"errors": [...]} shape.
- POST /api/repos/create ({"name", "organization", "visibility", "type"}) -> {"url"}; 409 when it exists.
- POST /api/{type}s/{owner}/{name}/preupload/{rev} -> every file "regular", so the client sends contents inline in
  the commit (no LFS or xet transfer, which a local fake cannot serve).
- POST /api/{type}s/{owner}/{name}/commit/{rev} (NDJSON: header, then base64 "file" entries) -> {"commitUrl",
  "commitOid"}; the files land in `repos[repo_id].files`.
"""

import base64
import hashlib
import json
from dataclasses import dataclass, field

from fakes.fake_hub import FakeHub, Request, Response, _error


@dataclass
class FakeRepo:
    repo_id: str
    visibility: str | None
    repo_type: str
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


def add_repo_routes(hub: FakeHub) -> dict[str, FakeRepo]:
    """Register the routes on `hub`; returns the live repo table (repo_id -> FakeRepo)."""
    repos: dict[str, FakeRepo] = {}

    @hub.route("POST", r"/api/repos/create")
    def create(req: Request) -> dict | Response:
        body = req.body or {}
        repo_id = f"{body.get('organization') or hub.user['name']}/{body['name']}"
        if repo_id in repos:
            # The Hub's 409 carries the repo URL; huggingface_hub reads it for create_repo(exist_ok=True).
            message = "You already created this model repo"
            return Response(409, {"error": message, "url": f"{hub.url}/{repo_id}"}, {"X-Error-Message": message})
        repos[repo_id] = FakeRepo(repo_id, body.get("visibility"), body.get("type") or "model")
        return {"url": f"{hub.url}/{repo_id}", "name": repo_id}

    @hub.route("POST", r"/api/validate-yaml")
    def validate_yaml(req: Request) -> dict | Response:
        import yaml

        content = (req.body or {}).get("content", "")
        front = content.split("---\n", 2)[1] if content.startswith("---\n") and content.count("---\n") >= 2 else ""
        try:
            metadata = yaml.safe_load(front)
        except yaml.YAMLError as exc:
            metadata = f"invalid YAML: {exc}"
        if not isinstance(metadata, dict):
            return Response(400, {"errors": [{"message": f"metadata is not a mapping: {metadata!r}"}]})
        return {"errors": [], "warnings": []}

    @hub.route("POST", r"/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)")
    def preupload(req: Request) -> dict | Response:
        if req.groups["repo"] not in repos:
            return _error(404, "Repository not found")
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                          for f in (req.body or {}).get("files", [])]}

    @hub.route("POST", r"/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)")
    def commit(req: Request) -> dict | Response:
        repo = repos.get(req.groups["repo"])
        if repo is None:
            return _error(404, "Repository not found")
        # The body is NDJSON, which the fake's JSON parser hands over as text.
        lines = req.body if isinstance(req.body, str) else json.dumps(req.body)
        summary = ""
        for line in lines.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                summary = item["value"]["summary"]
            elif item["key"] == "file":
                repo.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            else:
                return _error(400, f"The fake Hub does not support {item['key']!r} entries")
        oid = hashlib.sha1(summary.encode("utf-8") + str(len(repo.commits)).encode()).hexdigest()
        repo.commits.append(summary)
        return {"commitUrl": f"{hub.url}/{repo.repo_id}/commit/{oid}", "commitOid": oid}

    return repos
