"""Connector secrets encrypted at rest: bound to their row, rotatable, with a kept or generated key."""

import base64
import stat

import pytest

from casepush.config import ConfigError, Settings
from casepush.security.secrets import KEY_FILE, SecretBox, SecretsUnavailable, load_secret_box

OLD_KEY = "an-old-passphrase-of-at-least-32-characters"
NEW_KEY = "a-new-passphrase-of-at-least-32-characters!"
SECRETS = {"user": "jira-bot", "apiToken": "s3cr3t-t0k3n"}


def test_sealed_secrets_open_for_their_owner():
    box = SecretBox(NEW_KEY)
    assert box.open("connector-1", box.seal("connector-1", SECRETS)) == SECRETS


def test_a_token_copied_onto_another_owner_does_not_open():
    box = SecretBox(NEW_KEY)
    token = box.seal("connector-1", SECRETS)
    with pytest.raises(SecretsUnavailable):
        box.open("connector-2", token)


def test_a_tampered_token_does_not_open():
    box = SecretBox(NEW_KEY)
    raw = bytearray(base64.urlsafe_b64decode(box.seal("connector-1", SECRETS)))
    raw[-40] ^= 1  # in the ciphertext, before the 32-byte HMAC
    with pytest.raises(SecretsUnavailable):
        box.open("connector-1", base64.urlsafe_b64encode(raw).decode())
    with pytest.raises(SecretsUnavailable):
        box.open("connector-1", "not a token é")


def test_a_token_of_an_old_key_opens_and_rotates_to_the_new_key():
    old_token = SecretBox(OLD_KEY).seal("connector-1", SECRETS)
    box = SecretBox(NEW_KEY, decryption_only_keys=[OLD_KEY])
    assert box.open("connector-1", old_token) == SECRETS

    new_token = box.rotated(old_token)
    assert new_token is not None
    assert SecretBox(NEW_KEY).open("connector-1", new_token) == SECRETS
    assert box.rotated(new_token) is None


def test_a_token_of_an_old_key_is_unavailable_without_that_key():
    old_token = SecretBox(OLD_KEY).seal("connector-1", SECRETS)
    box = SecretBox(NEW_KEY)
    with pytest.raises(SecretsUnavailable):
        box.open("connector-1", old_token)
    with pytest.raises(SecretsUnavailable):
        box.rotated(old_token)


def test_errors_do_not_reveal_keys():
    token = SecretBox(OLD_KEY).seal("connector-1", SECRETS)
    with pytest.raises(SecretsUnavailable) as info:
        SecretBox(NEW_KEY).open("connector-1", token)
    assert OLD_KEY not in str(info.value) and NEW_KEY not in str(info.value)


def test_the_ciphertext_does_not_hold_the_secrets_in_clear():
    token = SecretBox(NEW_KEY).seal("connector-1", SECRETS)
    decoded = base64.urlsafe_b64decode(token)
    for value in SECRETS.values():
        assert value not in token
        assert value.encode() not in decoded


def test_a_generated_key_is_created_once_privately_and_survives_a_restart(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    token = load_secret_box(settings).seal("connector-1", SECRETS)

    key_file = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert len(key.strip()) >= 32

    assert load_secret_box(settings).open("connector-1", token) == SECRETS
    assert key_file.read_text() == key
    assert [p.name for p in key_file.parent.iterdir()] == [KEY_FILE]


def test_no_key_file_is_made_when_a_key_is_configured(tmp_path):
    settings = Settings(data_dir=str(tmp_path), encryption_key=NEW_KEY)
    token = load_secret_box(settings).seal("connector-1", SECRETS)
    assert list(tmp_path.iterdir()) == []
    assert SecretBox(NEW_KEY).open("connector-1", token) == SECRETS


def test_a_truncated_key_file_is_refused_rather_than_used(tmp_path):
    (tmp_path / KEY_FILE).write_text("\n")
    with pytest.raises(ConfigError, match=KEY_FILE):
        load_secret_box(Settings(data_dir=str(tmp_path)))
