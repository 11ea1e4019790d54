"""A loopback stand-in for the Hugging Face Hub's write API: repo create, preupload, commit.

It speaks what huggingface_hub sends for a push (reached through HF_ENDPOINT):
``POST /api/repos/create``, ``POST /api/validate-yaml`` (the card's metadata),
``POST /api/models/OWNER/NAME/preupload/REV`` (every file is
answered "regular", so its bytes come base64 inline in the commit) and ``POST
/api/models/OWNER/NAME/commit/REV`` (NDJSON: a header line, then one line per file). It keeps
the repos, the committed files and every request, and can drop a commit's connection midway
to play an interrupted push.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PREUPLOAD = re.compile(r"^/api/models/([^/]+/[^/]+)/preupload/([^/?]+)")
_COMMIT = re.compile(r"^/api/models/([^/]+/[^/]+)/commit/([^/?]+)")


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: int = 0


class HubState:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.unknown: list[str] = []
        # After this many commits, every further commit is cut off midway (the line is down) until
        # it is set back to None: the client's own retries cannot get through either.
        self.interrupt_after_commits: int | None = None
        self.commits_done = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        path = self.path.split("?", 1)[0]
        limit = self.state.interrupt_after_commits
        if _COMMIT.match(path) and limit is not None and self.state.commits_done >= limit:
            self.rfile.read(max(1, length // 2))  # part of the upload arrives, then the line drops
            self.close_connection = True
            self.connection.close()
            return
        body = self.rfile.read(length) if length else self._chunked()
        with self.state.lock:
            self.state.requests.append(("POST", path, dict(self.headers), body))
        if path == "/api/repos/create":
            return self._create(json.loads(body))
        if path == "/api/validate-yaml":  # the client checks a model card's metadata before committing it
            return self._send(200, {"errors": [], "warnings": []})
        if match := _PREUPLOAD.match(path):
            return self._preupload(match.group(1), json.loads(body))
        if match := _COMMIT.match(path):
            return self._commit(match.group(1), body)
        self.state.unknown.append(f"POST {path}")
        self._send(404, {"error": f"not served here: {path}"})

    def do_GET(self) -> None:
        self.state.requests.append(("GET", self.path, dict(self.headers), b""))
        self.state.unknown.append(f"GET {self.path}")
        self._send(404, {"error": f"not served here: {self.path}"})

    def _chunked(self) -> bytes:
        data = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def _create(self, payload: dict[str, Any]) -> None:
        owner = payload.get("organization")
        repo_id = f"{owner}/{payload['name']}" if owner else payload["name"]
        if "/" not in repo_id:
            repo_id = f"user/{repo_id}"
        with self.state.lock:
            private = bool(payload.get("private")) or payload.get("visibility") == "private"
            self.state.repos.setdefault(repo_id, Repo(private=private))
        self._send(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})

    def _preupload(self, repo_id: str, payload: dict[str, Any]) -> None:
        if repo_id not in self.state.repos:
            return self._send(404, {"error": "Repository not found"})
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in payload["files"]]
        self._send(200, {"files": files, "commitOid": None})

    def _commit(self, repo_id: str, body: bytes) -> None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            return self._send(404, {"error": "Repository not found"})
        staged = {}
        for line in body.decode("utf-8").splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                value = item["value"]
                assert value.get("encoding") == "base64", value.get("encoding")
                staged[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] not in ("header",):
                return self._send(400, {"error": f"unsupported commit line {item['key']}"})
        with self.state.lock:  # a commit is all or nothing
            repo.files.update(staged)
            repo.commits += 1
            self.state.commits_done += 1
        oid = f"{repo.commits:040x}"
        self._send(200, {"commitUrl": f"http://{self.headers['Host']}/{repo_id}/commit/{oid}", "commitOid": oid,
                         "pullRequestUrl": None})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HubServer:
    """``with HubServer() as hub: ... hub.url ... hub.state.repos``."""

    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
