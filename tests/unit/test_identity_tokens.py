"""Shoal's own tokens: opaque, signed, expiring; the key file is private."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from shoal.services.common.errors import Unauthorized
from shoal.services.identity.token_codec import TokenCodec, load_or_create_key
from tests.unit.identity_app import ADMIN_PASSWORD, identity_app


def test_round_trip_carries_no_readable_secret():
    codec = TokenCodec(Fernet.generate_key(), 3600)
    user, project = uuid.uuid4().hex, uuid.uuid4().hex  # long enough never to appear by chance
    token, claims = codec.issue(user, project, ("password",))
    assert user not in token and project not in token
    back = codec.read(token)
    assert (back.user_id, back.project_id, back.methods, back.audit_id) == (user, project, ("password",),
                                                                             claims.audit_id)
    assert timedelta(minutes=59) < back.expires_at - back.issued_at <= timedelta(hours=1)


def test_expired_tampered_and_foreign_tokens_are_refused():
    key = Fernet.generate_key()
    codec = TokenCodec(key, 3600)
    past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
    expired, _ = codec.issue("u1", None, ("password",), expires_at=past)
    with pytest.raises(Unauthorized, match="expired"):
        codec.read(expired)
    token, _ = codec.issue("u1", None, ("password",))
    with pytest.raises(Unauthorized):
        codec.read(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with pytest.raises(Unauthorized):
        TokenCodec(Fernet.generate_key(), 3600).read(token)
    for junk in ("", "x", "é" * 10, "gAAAAA" + "=" * 40):
        with pytest.raises(Unauthorized):
            codec.read(junk)


def test_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "identity" / "token.key"
    key = load_or_create_key(path)
    assert load_or_create_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_tokens_survive_a_restart_with_the_same_key(tmp_path):
    first = identity_app(tmp_path)
    token = first.token("admin", ADMIN_PASSWORD, "admin")
    second = identity_app(tmp_path)  # same state dir: same key file, same database
    assert second.services.identity.validate_token(token).project_name == "admin"


def test_token_ttl_from_config(tmp_path):
    app = identity_app(tmp_path, token_ttl=120)
    info = app.services.identity.validate_token(app.token("admin", ADMIN_PASSWORD, "admin"))
    assert timedelta(seconds=100) < info.expires_at - datetime.now(timezone.utc).replace(tzinfo=None) <= timedelta(seconds=120)


def test_passwords_are_stored_as_argon2id_hashes(tmp_path):
    app = identity_app(tmp_path)
    from shoal.services.identity.identity import system_caller

    [user] = app.services.identity.list_users(system_caller(), name="admin")
    assert user.password_hash.startswith("$argon2id$") and ADMIN_PASSWORD not in user.password_hash


def test_wrong_password_is_logged_without_the_password(tmp_path, caplog):
    app = identity_app(tmp_path)
    caplog.set_level("DEBUG")
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": "default"}, "password": "Sup3r-Secret-Guess"}}}}}
    assert app.client.post("/identity/v3/auth/tokens", json=body).status_code == 401
    assert "authentication failed for user admin" in caplog.text
    assert "Sup3r-Secret-Guess" not in caplog.text
