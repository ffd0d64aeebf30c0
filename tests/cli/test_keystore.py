"""One secrets module (keyring, environment for CI) and one HTTP-status-to-error table."""

from __future__ import annotations

import pytest

from qylon_cli import errors, keystore


@pytest.fixture
def file_keyring():
    import keyring

    from ..keyring_file import FileKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield
    keyring.set_keyring(previous)


def test_secrets_are_kept_in_the_keyring_and_the_environment_wins(file_keyring, monkeypatch):
    name = keystore.oauth_name("hubspot")
    assert keystore.get(name) is None
    keystore.put(name, "tok-1")
    assert keystore.get(name, env="QYLON_HUBSPOT_TOKEN") == "tok-1"
    monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", " tok-env ")
    assert keystore.get(name, env="QYLON_HUBSPOT_TOKEN") == "tok-env"
    assert keystore.delete(name) is True and keystore.delete(name) is False
    assert keystore.get(name) is None


def test_without_a_keyring_secrets_go_to_a_private_file(monkeypatch, tmp_path):
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    monkeypatch.setenv("QYLON_HOME", str(tmp_path))
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        assert keystore.get(keystore.DEVICE_KEY) is None
        keystore.put(keystore.DEVICE_KEY, "k")
        keystore.put(keystore.LLM_KEY, "sk")
        assert keystore.find(keystore.DEVICE_KEY) == ("k", str(tmp_path / "credentials.json"))
        assert oct((tmp_path / "credentials.json").stat().st_mode & 0o777) == "0o600"
        assert keystore.delete(keystore.DEVICE_KEY) is True
        assert keystore.delete(keystore.DEVICE_KEY) is False
        assert keystore.get(keystore.LLM_KEY) == "sk"
        # A store that cannot be kept says why; optional secrets are then just absent.
        (tmp_path / "credentials.json").write_text("{not json")
        assert keystore.get(keystore.LLM_KEY, quiet=True) is None
        with pytest.raises(keystore.NoKeyring, match="cannot be read"):
            keystore.get(keystore.LLM_KEY)
        monkeypatch.setenv("QYLON_HOME", str(tmp_path / "credentials.json" / "x"))
        with pytest.raises(keystore.NoKeyring, match="cannot be written"):
            keystore.put(keystore.DEVICE_KEY, "k")
    finally:
        keyring.set_keyring(previous)


def test_the_llm_key_comes_from_the_secrets_module(file_keyring):
    from qylon_agent.insights import llm

    keystore.put(keystore.LLM_KEY, "sk-kept")
    assert llm._keyring_key() == "sk-kept"


@pytest.mark.parametrize(
    ("status", "cls", "exit_code"),
    [
        (400, errors.InvalidInput, 3),
        (401, errors.NotAuthenticated, 4),
        (403, errors.NotAllowed, 4),
        (404, errors.NotFound, 5),
        (409, errors.InvalidInput, 3),
        (422, errors.InvalidInput, 3),
        (429, errors.Unavailable, 6),
        (500, errors.Unavailable, 6),
        (503, errors.Unavailable, 6),
    ],
)
def test_one_table_maps_http_status_to_errors(status, cls, exit_code):
    error = errors.from_status(status, "m", hint="h", code="c")
    assert (
        type(error) is cls
        and error.exit_code == exit_code
        and error.to_dict() == {"code": "c", "message": "m", "hint": "h"}
    )


def test_the_agent_control_api_round_trips_through_the_table():
    for cls in (errors.InvalidInput, errors.NotAllowed, errors.NotFound, errors.Unavailable):
        status = errors.http_status(cls("x"))
        assert (
            errors.from_status(status, "x", server_error=errors.QylonError).exit_code
            == cls.exit_code
        )
    assert (
        errors.http_status(errors.UsageError("x")) == 400
    )  # comes back as invalid input, as it always did
    failed = errors.from_status(
        errors.http_status(errors.QylonError("x")), "x", server_error=errors.QylonError
    )
    assert type(failed) is errors.QylonError and failed.exit_code == 1
