"""A keyring backend for tests: the real keyring API, stored in a JSON file in QYLON_HOME.

Selected in subprocesses with PYTHON_KEYRING_BACKEND=tests.keyring_file.FileKeyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1

    @property
    def file(self) -> Path:
        return Path(os.environ["QYLON_HOME"]) / "test-keyring.json"

    def _read(self) -> dict:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def get_password(self, service, username):
        return self._read().get(f"{service}\0{username}")

    def set_password(self, service, username, password):
        data = self._read()
        data[f"{service}\0{username}"] = password
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(data))

    def delete_password(self, service, username):
        data = self._read()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("not stored")
        self.file.write_text(json.dumps(data))
