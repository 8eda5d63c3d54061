"""A small Hugging Face Hub stand-in for tests: the endpoints huggingface_hub's client calls
for ``whoami``, ``create_repo``, ``create_branch``, ``repo_info`` and ``create_commit`` /
``upload_folder`` (preupload, LFS batch + basic upload + verify, NDJSON commit), and for
downloads: ``list_repo_files`` (tree) and ``hf_hub_download`` / ``snapshot_download``
(``resolve``, HEAD and GET, by branch or commit).

    with HubServer(tokens={"hf_secret": "alice"}) as hub:   # hub.url -> http://127.0.0.1:PORT
        ... HF_ENDPOINT=hub.url ...
        hub.files("alice/model")  # {path: bytes} at the head of main

It keeps every commit (parent, message, full file set), stores LFS objects by sha256, and can
be told to fail: ``hub.fail_always = 401`` answers every request with that status,
``hub.fail_next("/commit/", 500)`` fails the next matching request once. It runs in a thread
on a free port of 127.0.0.1 (stdlib ThreadingHTTPServer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import yaml

LFS_SUFFIXES = (".h5", ".bin", ".safetensors", ".png", ".jpg", ".onnx", ".msgpack", ".ckpt")
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)


class HubServer:
    def __init__(self, tokens: dict[str, str], orgs: dict[str, list[str]] | None = None) -> None:
        self.tokens = tokens  # token -> user name
        self.orgs = orgs or {}  # user -> organisations they may write to
        self.repos: dict[str, Repo] = {}
        self.commits: dict[str, Commit] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.bodies: list[bytes] = []  # every request body, for leak checks
        self.fail_always: int | None = None
        self._fail_once: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- test helpers ---------------------------------------------------------------------
    def fail_next(self, path_contains: str, status: int) -> None:
        """Answer the next request whose path contains ``path_contains`` with ``status``."""
        self._fail_once.append((path_contains, status))

    def history(self, repo_id: str, branch: str = "main") -> list[Commit]:
        """Commits of a branch, newest first."""
        out, oid = [], self.repos[repo_id].branches.get(branch)
        while oid:
            out.append(self.commits[oid])
            oid = self.commits[oid].parent
        return out

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return dict(self.commits[self.repos[repo_id].branches[branch]].files)

    # -- repo logic (called by the handler under the lock) ---------------------------------
    def new_commit(self, repo: Repo, branch: str, message: str, changes: dict, lfs: set) -> str:
        parent = repo.branches.get(branch)
        files = dict(self.commits[parent].files) if parent else {}
        files.update(changes)
        seed = f"{repo.repo_id}{parent}{message}{len(self.commits)}".encode()
        oid = hashlib.sha1(seed).hexdigest()
        prev_lfs = self.commits[parent].lfs if parent else set()
        self.commits[oid] = Commit(oid, parent, message, files, (prev_lfs - set(changes)) | lfs)
        repo.branches[branch] = oid
        return oid


def _make_handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # -- plumbing -------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            self._send(status, {"error": message}, {"X-Error-Code": code} if code else None)

        def _user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return hub.tokens.get(auth.removeprefix("Bearer ").strip()) if auth else None

        def _may_write(self, user: str, repo_id: str) -> bool:
            return repo_id.split("/")[0] in (user, *hub.orgs.get(user, []))

        def _dispatch(self, method: str) -> None:
            body = self._body()
            with hub._lock:
                hub.requests.append((method, self.path))
                hub.bodies.append(body)
                if hub.fail_always:
                    return self._error(hub.fail_always, "failing on purpose")
                for i, (needle, status) in enumerate(hub._fail_once):
                    if needle in self.path:
                        del hub._fail_once[i]
                        return self._error(status, "failing once on purpose")
                for pattern, handler in ROUTES:
                    m = re.fullmatch(pattern, f"{method} {self.path.split('?')[0]}")
                    if m:
                        args = {k: unquote(v) for k, v in m.groupdict().items()}
                        return handler(self, body, **args)
                return self._error(404, f"no route {method} {self.path}")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        # -- endpoints ------------------------------------------------------------------
        def whoami(self, body: bytes) -> None:
            user = self._user()
            if not user:
                return self._error(401, "Invalid credentials in Authorization header")
            orgs = [{"name": o} for o in hub.orgs.get(user, [])]
            auth = {"type": "access_token", "accessToken": {"displayName": "t", "role": "write"}}
            self._send(200, {"type": "user", "name": user, "orgs": orgs, "auth": auth})

        def validate_yaml(self, body: bytes) -> None:
            content = json.loads(body)["content"]
            parts = content.split("---", 2)
            try:
                meta = yaml.safe_load(parts[1]) if content.startswith("---") else None
            except yaml.YAMLError as exc:
                return self._send(400, {"errors": [{"message": str(exc)}], "warnings": []})
            if not isinstance(meta, dict):
                return self._send(400, {"errors": [{"message": "no YAML metadata"}]})
            self._send(200, {"errors": [], "warnings": []})

        def create_repo(self, body: bytes) -> None:
            user = self._user()
            if not user:
                return self._error(401, "Invalid credentials in Authorization header")
            req = json.loads(body)
            repo_id = f"{req.get('organization') or user}/{req['name']}"
            if repo_id in hub.repos:
                return self._send(409, {"error": "repo exists", "url": f"{hub.url}/{repo_id}"})
            if not self._may_write(user, repo_id):
                return self._error(403, f"no rights to create under {repo_id.split('/')[0]}")
            repo = hub.repos[repo_id] = Repo(repo_id, bool(req.get("private")))
            attrs = b"*.h5 filter=lfs diff=lfs merge=lfs -text\n"
            hub.new_commit(repo, "main", "initial commit", {".gitattributes": attrs}, set())
            self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})

        def _repo(self, repo_id: str, write: bool = False) -> Repo | None:
            user = self._user()
            repo = hub.repos.get(repo_id)
            if write and not user:
                self._error(401, "Invalid credentials in Authorization header")
            elif repo is None or (repo.private and not (user and self._may_write(user, repo_id))):
                self._error(404, "Repository not found", "RepoNotFound")
            elif write and not self._may_write(user, repo_id):
                self._error(403, f"no write access to {repo_id}")
            else:
                return repo
            return None

        def repo_info(self, body: bytes, repo: str, rev: str = "main") -> None:
            found = self._repo(repo)
            if found is None:
                return
            if rev not in found.branches:
                return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = found.branches[rev]
            siblings = [{"rfilename": p} for p in sorted(hub.commits[head].files)]
            self._send(
                200, {"id": repo, "sha": head, "private": found.private, "siblings": siblings}
            )

        def _head(self, repo: str, rev: str) -> Commit | None:
            """The commit a branch name or commit id names in a readable repo (else answered)."""
            found = self._repo(repo)
            if found is None:
                return None
            oid = found.branches.get(rev, rev)
            if oid not in hub.commits:
                self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                return None
            return hub.commits[oid]

        def tree(self, body: bytes, repo: str, rev: str) -> None:
            head = self._head(repo, rev)
            if head is not None:
                entries = [
                    {"type": "file", "path": p, "size": len(d), "oid": git_blob_sha1(d)}
                    for p, d in sorted(head.files.items())
                ]
                self._send(200, entries)

        def resolve(self, body: bytes, repo: str, rev: str, path: str) -> None:
            head = self._head(repo, rev)
            if head is None:
                return
            if path not in head.files:
                return self._error(404, f"{path} not found", "EntryNotFound")
            data = head.files[path]
            etag = hashlib.sha256(data).hexdigest() if path in head.lfs else git_blob_sha1(data)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", head.oid)
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)

        def create_branch(self, body: bytes, repo: str, branch: str) -> None:
            found = self._repo(repo, write=True)
            if found is None:
                return
            if branch in found.branches:
                return self._error(409, "Reference already exists")
            start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
            found.branches[branch] = found.branches[start]
            self._send(200, {})

        def preupload(self, body: bytes, repo: str, rev: str) -> None:
            found = self._repo(repo, write=True)
            if found is None:
                return
            head = hub.commits[found.branches[rev]] if rev in found.branches else None
            out = []
            for f in json.loads(body)["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = f["size"] > 10_000_000 or b"\0" in sample or f["path"].endswith(LFS_SUFFIXES)
                entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular"}
                entry["shouldIgnore"] = False
                if head and f["path"] in head.files:
                    data = head.files[f["path"]]
                    in_lfs = f["path"] in head.lfs
                    entry["oid"] = (
                        hashlib.sha256(data).hexdigest() if in_lfs else git_blob_sha1(data)
                    )
                out.append(entry)
            self._send(200, {"files": out, "commitOid": head.oid if head else None})

        def lfs_batch(self, body: bytes, repo: str) -> None:
            if self._repo(repo, write=True) is None:
                return
            req = json.loads(body)
            objects = []
            for obj in req["objects"]:
                item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in hub.lfs_objects:
                    item["actions"] = {
                        "upload": {"href": f"{hub.url}/lfs-upload/{obj['oid']}"},
                        "verify": {"href": f"{hub.url}/{repo}.git/info/lfs/objects/verify"},
                    }
                objects.append(item)
            self._send(200, {"transfer": "basic", "objects": objects})

        def lfs_upload(self, body: bytes, oid: str) -> None:
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, "content does not match its sha256")
            hub.lfs_objects[oid] = body
            self._send(200, {})

        def lfs_verify(self, body: bytes, repo: str) -> None:
            if self._repo(repo, write=True) is None:
                return
            req = json.loads(body)
            stored = hub.lfs_objects.get(req["oid"])
            if stored is None or len(stored) != req["size"]:
                return self._error(404, "object not uploaded")
            self._send(200, {})

        def commit(self, body: bytes, repo: str, rev: str) -> None:
            found = self._repo(repo, write=True)
            if found is None:
                return
            if rev not in found.branches:
                return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            changes: dict[str, bytes] = {}
            lfs: set[str] = set()
            for item in lines:
                value = item["value"]
                if item["key"] == "file":
                    changes[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "lfsFile":
                    data = hub.lfs_objects.get(value["oid"])
                    if data is None:
                        return self._error(400, f"LFS object of {value['path']} was not uploaded")
                    changes[value["path"]] = data
                    lfs.add(value["path"])
                elif item["key"] != "header":
                    return self._error(400, f"unsupported operation {item['key']}")
            oid = hub.new_commit(found, rev, header["summary"], changes, lfs)
            url = f"{hub.url}/{repo}/commit/{oid}"
            self._send(200, {"commitUrl": url, "commitOid": oid, "success": True})

    ROUTES = [
        (r"GET /api/whoami-v2", Handler.whoami),
        (r"POST /api/validate-yaml", Handler.validate_yaml),
        (r"POST /api/repos/create", Handler.create_repo),
        (rf"GET /api/models/{REPO}", Handler.repo_info),
        (rf"GET /api/models/{REPO}/revision/(?P<rev>[^/]+)", Handler.repo_info),
        (rf"GET /api/models/{REPO}/tree/(?P<rev>[^/]+)", Handler.tree),
        (rf"(GET|HEAD) /{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", Handler.resolve),
        (rf"POST /api/models/{REPO}/branch/(?P<branch>[^/]+)", Handler.create_branch),
        (rf"POST /api/models/{REPO}/preupload/(?P<rev>[^/]+)", Handler.preupload),
        (rf"POST /api/models/{REPO}/commit/(?P<rev>[^/]+)", Handler.commit),
        (rf"POST /{REPO}\.git/info/lfs/objects/batch", Handler.lfs_batch),
        (rf"POST /{REPO}\.git/info/lfs/objects/verify", Handler.lfs_verify),
        (r"PUT /lfs-upload/(?P<oid>[0-9a-f]{64})", Handler.lfs_upload),
    ]
    return Handler
