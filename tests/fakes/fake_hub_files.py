"""Reading repos back from the fake Hub: repo info, file listings and downloads, for the real huggingface_hub client.

`add_download_routes(fake_hub, repos)` serves the files that fake_hub_repos.py's commits stored:
- GET /api/models/{repo}/revision/{rev} -> {"id", "sha", "siblings": [{"rfilename"}]}
- GET /api/models/{repo}/tree/{rev}[/{path}] -> [{"type": "file", "path", "size", "oid"}]
- HEAD/GET /{repo}/resolve/{rev}/{path} -> the bytes, with X-Repo-Commit and ETag like the Hub.
"""

import hashlib

from fakes.fake_hub import FakeHub, Request, Response, _error

COMMIT = "c" * 40


def add_download_routes(hub: FakeHub, repos: dict) -> None:
    def repo_or_404(req: Request):
        repo = repos.get(req.groups["repo"])
        return repo if repo is not None else _error(404, "Repository not found", {"X-Error-Code": "RepoNotFound"})

    @hub.route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")
    def info(req: Request) -> dict | Response:
        repo = repo_or_404(req)
        if isinstance(repo, Response):
            return repo
        return {"id": repo.repo_id, "sha": COMMIT, "private": repo.visibility == "private",
                "siblings": [{"rfilename": name} for name in sorted(repo.files)]}

    @hub.route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
    def tree(req: Request) -> list | Response:
        repo = repo_or_404(req)
        if isinstance(repo, Response):
            return repo
        prefix = (req.groups.get("path") or "").strip("/")
        return [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in sorted(repo.files.items()) if not prefix or name.startswith(prefix + "/")]

    for method in ("GET", "HEAD"):
        @hub.route(method, r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
        def resolve(req: Request) -> Response:
            repo = repo_or_404(req)
            if isinstance(repo, Response):
                return repo
            data = repo.files.get(req.groups["path"])
            if data is None:
                return _error(404, "Entry not found", {"X-Error-Code": "EntryNotFound"})
            return Response(200, raw=data, headers={"X-Repo-Commit": COMMIT,
                                                    "ETag": f'"{hashlib.sha1(data).hexdigest()}"'})
