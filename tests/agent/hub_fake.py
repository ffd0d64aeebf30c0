"""A Hugging Face hub on loopback, speaking the part of its API that `huggingface_hub`
uses to download a model: repository info with file metadata
(``GET /api/models/{repo}/revision/{rev}?blobs=True``: siblings with size, git blob id
and, for large files, the LFS SHA-256) and file resolution
(``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag`` and byte
ranges, 206 for a ``Range: bytes=N-``). Errors carry the hub's ``X-Error-Code``
(``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).

``with FakeHub({"Systran/faster-whisper-tiny.en": folder}) as hub:`` serves ``folder``'s
files; ``hub.requests`` logs ``(method, path, range)``; ``hub.rate`` (bytes/s) slows the
bodies down so that a download can be killed midway; ``hub.corrupt`` names files served
with one byte changed (their metadata still the original's).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..plugins.loopback import LoopbackApp

COMMIT = "0" * 8 + "c0ffee" * 5 + "00"  # 40 hex digits
LFS_FROM = 1_000_000  # files this large are LFS files on the fake, as on the hub


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class FakeHub(LoopbackApp):
    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {repo: self._files(folder) for repo, folder in repos.items()}
        self.requests: list[tuple[str, str, str | None]] = []
        self.rate: float | None = None
        self.corrupt: set[str] = set()
        app = Starlette(
            routes=[
                Route("/api/models/{owner}/{name}/revision/{rev}", self.info),
                Route(
                    "/{owner}/{name}/resolve/{rev}/{file:path}",
                    self.resolve,
                    methods=["GET", "HEAD"],
                ),
            ]
        )
        super().__init__(app)

    @staticmethod
    def _files(folder: Path) -> dict[str, dict]:
        files = {}
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            data = path.read_bytes()
            entry = {"path": path, "size": len(data), "blob": _git_blob(data)}
            if len(data) >= LFS_FROM:
                entry["sha256"] = hashlib.sha256(data).hexdigest()
            files[path.name] = entry
        return files

    def _repo(self, request: Request):
        repo = f"{request.path_params['owner']}/{request.path_params['name']}"
        if repo not in self.repos:
            return repo, self._error(404, "RepoNotFound", f"Repository Not Found for url: {repo}")
        if request.path_params["rev"] not in ("main", COMMIT):
            return repo, self._error(404, "RevisionNotFound", "Invalid rev id")
        return repo, None

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status, headers={"X-Error-Code": code})

    async def info(self, request: Request) -> Response:
        self.requests.append(("GET", request.url.path, None))
        repo, error = self._repo(request)
        if error:
            return error
        siblings = []
        for name, entry in self.repos[repo].items():
            sibling = {"rfilename": name, "size": entry["size"], "blobId": entry["blob"]}
            if "sha256" in entry:
                sibling["lfs"] = {
                    "size": entry["size"],
                    "sha256": entry["sha256"],
                    "pointerSize": 134,
                }
            siblings.append(sibling)
        return JSONResponse(
            {"id": repo, "modelId": repo, "sha": COMMIT, "private": False, "siblings": siblings}
        )

    async def resolve(self, request: Request) -> Response:
        header = request.headers.get("range")
        self.requests.append((request.method, request.url.path, header))
        repo, error = self._repo(request)
        if error:
            return error
        entry = self.repos[repo].get(request.path_params["file"])
        if entry is None:
            return self._error(404, "EntryNotFound", "Entry not found")
        etag = entry.get("sha256") or entry["blob"]
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if "sha256" in entry:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(entry["size"])})
        start = 0
        if header and header.startswith("bytes="):
            start = int(header[6:].split("-")[0] or 0)
        size = entry["size"]
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers, "Content-Length": str(size)})
        data = entry["path"].read_bytes()
        if request.path_params["file"] in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        headers["Content-Length"] = str(size - start)
        return StreamingResponse(self._body(data[start:]), status_code=status, headers=headers)

    async def _body(self, data: bytes):
        chunk = 256 * 1024
        for at in range(0, len(data), chunk):
            yield data[at : at + chunk]
            if self.rate:
                await asyncio.sleep(chunk / self.rate)
