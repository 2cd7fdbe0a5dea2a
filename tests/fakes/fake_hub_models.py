"""A small fake of the Hub endpoints the estimator reads, served on 127.0.0.1 for the real huggingface_hub client.

Routes: GET /api/jobs/hardware · GET /api/models/{owner}/{name}[/revision/{rev}] (with `safetensors` when known) ·
HEAD/GET /{owner}/{name}/resolve/{rev}/{file}. Unknown repos answer 404 with X-Error-Code RepoNotFound, gated repos
401 GatedRepo, missing files 404 EntryNotFound, like the Hub. `requests` records every path for assertions.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "a" * 40


@dataclass
class FakeModel:
    files: dict[str, bytes] = field(default_factory=dict)
    safetensors: dict | None = None  # {"parameters": {"BF16": n}, "total": n}
    gated: bool = False


@dataclass
class FakeHubModels:
    hardware: list[dict] | None = None
    models: dict[str, FakeModel] = field(default_factory=dict)
    hardware_status: int = 200
    requests: list[str] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "FakeHubModels":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                      head: bool = False) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
                body = json.dumps({"error": message}).encode()
                self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                          "Content-Type": "application/json"}, head)

            def _route(self, head: bool) -> None:
                path = unquote(urlparse(self.path).path)
                fake.requests.append(f"{self.command} {self.path}")
                if path == "/api/jobs/hardware":
                    if fake.hardware_status != 200:
                        return self._error(fake.hardware_status, "", "unavailable", head)
                    return self._send(200, json.dumps(fake.hardware or []).encode(),
                                      {"Content-Type": "application/json"}, head)
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) >= 4:
                    repo = "/".join(parts[2:4])
                    model = fake.models.get(repo)
                    if model is None:
                        return self._error(404, "RepoNotFound", "Repository not found", head)
                    if model.gated:
                        return self._error(401, "GatedRepo", "Access to this model is restricted", head)
                    info = {"id": repo, "modelId": repo, "sha": COMMIT, "private": False, "siblings":
                            [{"rfilename": name} for name in model.files]}
                    if model.safetensors:
                        info["safetensors"] = model.safetensors
                    return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
                    model = fake.models.get(repo)
                    if model is None:
                        return self._error(404, "RepoNotFound", "Repository not found", head)
                    if model.gated:
                        return self._error(401, "GatedRepo", "Access to this model is restricted", head)
                    if filename not in model.files:
                        return self._error(404, "EntryNotFound", f"{filename} does not exist", head)
                    body = model.files[filename]
                    etag = hashlib.sha1(body).hexdigest()
                    return self._send(200, body, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'}, head)
                return self._error(404, "", f"no route for {path}", head)

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def hardware_entry(name: str, usd_per_hour: float, model: str | None = None, quantity: int = 1,
                   vram: str = "24 GB", cpu: str = "8 vCPU", ram: str = "32 GB") -> dict:
    """One GET /api/jobs/hardware entry in the Hub's JSON shape (price per minute, like the Hub)."""
    per_minute = usd_per_hour / 60
    return {
        "name": name, "prettyName": name.upper(), "cpu": cpu, "ram": ram, "ephemeralStorage": "100 GB",
        "accelerator": None if model is None else {"type": "gpu", "model": model, "quantity": str(quantity),
                                                   "vram": vram, "manufacturer": "Nvidia"},
        "unitCostMicroUSD": round(per_minute * 1e6), "unitCostUSD": per_minute, "unitLabel": "minute",
    }


def add_catalog_routes(hub, models: dict, datasets: dict, repos: dict | None = None) -> None:
    """Model and dataset repos on the Jobs fake Hub (tests/fakes/fake_hub.py), as the real Hub answers for them:
    GET /api/{models,datasets}/{repo}[/revision/{rev}] (public metadata even for a gated repo, with `gated` and, for
    models, the safetensors parameter count), GET /api/{models,datasets}/{repo}/auth-check (403 GatedRepo without
    access, 404 RepoNotFound), and HEAD/GET /{repo}/resolve/{rev}/{file} for model files (config.json).

    `models`/`datasets` come from tests/fakes/hub_catalog.py; `repos` (from fake_hub_repos.add_repo_routes) adds the
    repos a test created, so "does this output repo exist" sees them."""
    from fakes.fake_hub import Response, _error

    import re

    # Repo pages answer anonymous callers too; the routes below decide what a caller without a token may see.
    hub.public += [re.compile(r"/api/(models|datasets)/"), re.compile(r"/[^/]+/[^/]+/resolve/")]

    def lookup(kind: str, repo: str):
        table = models if kind == "models" else datasets
        if repo in table:
            return table[repo]
        created = (repos or {}).get(repo)
        if created is not None and created.repo_type == kind[:-1]:
            return created
        return None

    def not_found(kind: str, repo: str, token: str | None = "") -> Response:
        # Without a token the Hub answers 401 for a repo it will not show, with a token 404; both say RepoNotFound.
        return _error(401 if token is None else 404, f"{'Repository' if kind == 'models' else 'Dataset'} {repo} "
                      "not found", {"X-Error-Code": "RepoNotFound"})

    def revisions(entry) -> tuple[str, ...]:
        return getattr(entry, "revisions", ("main", COMMIT))

    @hub.route("GET", r"/api/(?P<kind>models|datasets)/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?")
    def info(req):
        kind, repo, rev = req.groups["kind"], req.groups["repo"], req.groups.get("rev")
        entry = lookup(kind, repo)
        if entry is None:
            return not_found(kind, repo, req.token)
        if rev is not None and rev not in revisions(entry):
            return _error(404, f"Invalid rev id: {rev}", {"X-Error-Code": "RevisionNotFound"})
        gated = getattr(entry, "gated", False)
        body = {"_id": repo, "id": repo, "author": repo.split("/")[0],
                "sha": next((r for r in revisions(entry) if len(r) == 40), COMMIT),
                "private": getattr(entry, "visibility", None) == "private", "gated": "manual" if gated else False,
                "disabled": False, "downloads": 1000, "likes": 10, "tags": [], "createdAt": "2024-09-18T00:00:00.000Z",
                "lastModified": "2024-09-25T00:00:00.000Z",
                "siblings": [{"rfilename": name} for name in getattr(entry, "files", {})]}
        if kind == "models":
            body["modelId"] = repo
            parameters = getattr(entry, "parameters", None)
            if parameters:
                body["safetensors"] = {"parameters": {"BF16": parameters}, "total": parameters}
        return body

    @hub.route("GET", r"/api/(?P<kind>models|datasets)/(?P<repo>[^/]+/[^/]+)/auth-check")
    def auth_check(req):
        kind, repo = req.groups["kind"], req.groups["repo"]
        entry = lookup(kind, repo)
        if entry is None:
            return not_found(kind, repo, req.token)
        if getattr(entry, "gated", False) and req.token not in getattr(entry, "access", set()):
            message = (f"Access to {kind[:-1]} {repo} is restricted and you are not in the authorized list. Visit "
                       f"{hub.url}/{'datasets/' if kind == 'datasets' else ''}{repo} to ask for access.")
            # Anonymous callers get 401, signed-in ones without access 403; both say GatedRepo.
            return _error(401 if req.token is None else 403, message, {"X-Error-Code": "GatedRepo"})
        if getattr(entry, "visibility", None) == "private" and req.token not in hub.tokens:
            return not_found(kind, repo)
        return {}

    for method in ("GET", "HEAD"):
        @hub.route(method, r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")
        def resolve(req):
            repo, filename = req.groups["repo"], req.groups["file"]
            entry = models.get(repo) or (repos or {}).get(repo)
            if entry is None:
                return not_found("models", repo, req.token)
            if getattr(entry, "gated", False) and req.token not in entry.access:
                return _error(403, f"Access to model {repo} is restricted.", {"X-Error-Code": "GatedRepo"})
            if filename not in entry.files:
                return _error(404, f"{filename} does not exist", {"X-Error-Code": "EntryNotFound"})
            body = entry.files[filename]
            # A repo a test writes to gets a new commit with each content (clients cache files per commit).
            commit = COMMIT if repo in models else hashlib.sha1(repo.encode() + body).hexdigest()
            return Response(200, raw=body, headers={"X-Repo-Commit": commit,
                                                    "ETag": f'"{hashlib.sha1(body).hexdigest()}"'})
