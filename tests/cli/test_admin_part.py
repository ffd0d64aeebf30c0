"""The admin part (dist qylon-admin, package qylon_admin): `qylon users` plugs into the host
through the command hook, the host imports nothing from it, and the host's install no
longer carries email and phone validation."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import qylon_cli

LOADED = "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in {0})))\n"


def _loaded_after(code: str, roots: set[str], env: dict | None = None) -> list[str]:
    script = "import sys\n" + code + LOADED.format(roots)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "", **(env or {})},
        check=False,
    )
    line = next((line for line in out.stdout.splitlines() if line.startswith("LOADED=")), None)
    assert line is not None, out.stderr
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


HELP = (
    "import runpy\n"
    "sys.argv = ['qylon', '--help']\n"
    "try:\n    runpy.run_module('qylon_cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
)


def test_the_host_imports_nothing_from_the_admin_part():
    # every module of the host, and the app built with no plugins loaded
    code = (
        "import pkgutil, importlib, qylon_cli\n"
        "for info in pkgutil.walk_packages(qylon_cli.__path__, 'qylon_cli.'):\n"
        "    importlib.import_module(info.name)\n"
        "from qylon_cli.cli.app import build_app\n"
        "build_app()\n"
    )
    loaded = _loaded_after(
        code, {"qylon_admin", "email_validator", "phonenumbers"}, env={"QYLON_LOAD_PLUGINS": ""}
    )
    assert loaded == []
    # nor inside a function, where importing every module would not reach
    sources = Path(qylon_cli.__file__).parent.rglob("*.py")
    assert [p.name for p in sources if "qylon_admin" in p.read_text(encoding="utf-8")] == []


def test_help_with_the_admin_part_loads_only_its_registration():
    # the group is registered by name with its help: `qylon --help` builds none of its commands
    loaded = _loaded_after(HELP, {"qylon_admin", "email_validator", "phonenumbers", "pydantic"})
    assert loaded == ["qylon_admin", "qylon_admin.plugin"]


def test_users_help_loads_its_commands_but_not_the_validators():
    code = HELP.replace("'--help'", "'users', '--help'")
    loaded = _loaded_after(code, {"qylon_admin", "email_validator", "phonenumbers"})
    assert "qylon_admin.cli.users" in loaded
    assert not [m for m in loaded if m.startswith(("email_validator", "phonenumbers"))]


def test_users_without_the_admin_part_names_the_extra(qylon):
    env = {"QYLON_LOAD_PLUGINS": "agent,server"}
    result = qylon("users", "list", "--json", env=env)
    assert result.code == 1
    err = result.json["error"]
    assert err["code"] == "missing_part" and "qylon[admin]" in err["hint"]
    validate = qylon("users", "validate", "people.csv", env=env)
    assert validate.code == 1 and "qylon[admin]" in validate.stderr
    listed = qylon("--help", env=env).stdout
    assert "users" in listed and "(needs qylon[admin])" in listed


def test_plugins_list_shows_the_admin_part(qylon):
    rows = qylon("plugins", "list", "--json").json["data"]["items"]
    admin = next(r for r in rows if r["name"] == "admin")
    assert admin["package"] == "qylon-admin"
    assert admin["hooks"] == ["register_commands"]


def _names(requirements: list[str] | None, extra: str | None = None) -> set[str]:
    """The distributions required, plainly (``extra=None``) or by ``extra``."""
    from packaging.requirements import Requirement

    names = set()
    for req in map(Requirement, requirements or []):
        plain = req.marker is None or req.marker.evaluate({"extra": ""})
        if (extra is None and plain) or (
            extra and not plain and req.marker.evaluate({"extra": extra})
        ):
            names.add(req.name.lower())
    return names


def test_email_and_phone_validation_left_the_host():
    host = metadata.requires("qylon")
    assert {"email-validator", "phonenumbers"}.isdisjoint(_names(host))
    assert "qylon-admin" in _names(host, "admin") and "qylon-admin" in _names(host, "all")
    assert {"qylon", "email-validator", "phonenumbers"} <= _names(metadata.requires("qylon-admin"))
    # the server validates addresses (the shared Email and Phone types) and says so itself
    assert {"email-validator", "phonenumbers"} <= _names(metadata.requires("qylon-server"))
