"""Accounts and sessions over real HTTP: login, cookie flags, CSRF, logout, expiry, the login
throttle, argon2id hashes, admin management of users and API keys, and `amb-admin create-user`."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher

from api.settings import ApiSettings
from tests.api.conftest import PASSWORD, UNSAFE, Browser, sign_in
from tests.api.test_authz_matrix import RULES, app_routes
from tests.services import REPO, TEST_DATABASE_URL


def login(api_server: str, username: str, password: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{api_server}/api/v1/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=15,
    )


def test_login_sets_a_strict_http_only_session_cookie(
    api_server: str, users: dict[str, str], db: psycopg.Connection, own_hospital: int
) -> None:
    resp = login(api_server, "TEST-Hospital", PASSWORD)  # usernames are case-insensitive
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "test-hospital",
        "display_name": "Test-Hospital",
        "role": "hospital",
        "hospital_id": own_hospital,
        "vehicle_id": None,
    }
    assert len(body["csrf_token"]) >= 32
    cookie = resp.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert cookie.startswith("amb_session=")
    assert "httponly" in flags and flags["samesite"].strip().lower() == "samesite=strict"
    assert flags["path"].strip() == "Path=/"
    assert "secure" not in flags  # AMB_ENV=test; Secure by default anywhere else
    secret = resp.cookies["amb_session"]
    # Only a hash of the cookie's secret is stored.
    stored = db.execute("SELECT id, csrf_token, expires_at - now() FROM sessions").fetchall()
    assert [(s[0], s[1]) for s in stored] == [
        (hashlib.sha256(secret.encode()).hexdigest(), body["csrf_token"])
    ]
    assert 11.9 * 3600 < stored[0][2].total_seconds() <= 12 * 3600
    assert db.execute(
        "SELECT last_login_at IS NOT NULL FROM users WHERE username = 'test-hospital'"
    ).fetchone() == (True,)


def test_cookies_are_secure_outside_development_and_test() -> None:
    assert ApiSettings().secure_cookies("production") is True
    assert ApiSettings().secure_cookies("development") is False
    assert ApiSettings(cookie_secure=True).secure_cookies("test") is True
    assert ApiSettings(cookie_secure=False).secure_cookies("production") is False


def test_unknown_user_and_wrong_password_get_the_same_answer(
    api_server: str, users: dict[str, str], db: psycopg.Connection
) -> None:
    wrong = login(api_server, "test-viewer", "not the password at all")
    unknown = login(api_server, "nobody-at-all", PASSWORD)
    db.execute("UPDATE users SET disabled = true WHERE username = 'test-admin'")
    disabled = login(api_server, "test-admin", PASSWORD)
    assert wrong.status_code == unknown.status_code == disabled.status_code == 401
    assert wrong.json() == unknown.json() == disabled.json() == {"detail": "wrong username or password"}
    assert "set-cookie" not in wrong.headers


def test_me_and_logout(api_server: str, browsers: dict[str, Browser], db: psycopg.Connection) -> None:
    browser = browsers["dispatcher"]
    me = browser.call("GET", "/api/v1/auth/me").json()
    assert me["user"]["username"] == "test-dispatcher" and me["csrf_token"] == browser.csrf_token
    assert me["principal"] == {
        "name": "test-dispatcher",
        "role": "dispatcher",
        "hospital_id": None,
        "via": "session",
    }
    assert browser.call("POST", "/api/v1/auth/logout", csrf=False).status_code == 403
    out = browser.call("POST", "/api/v1/auth/logout")
    assert out.status_code == 204
    assert "amb_session=" in out.headers["set-cookie"] and "max-age=0" in out.headers["set-cookie"].lower()
    assert db.execute(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.username = 'test-dispatcher'"
    ).fetchone() == (0,)
    assert browser.call("GET", "/api/v1/auth/me").status_code == 401
    assert httpx.get(f"{api_server}/api/v1/auth/me", timeout=5).status_code == 401


def test_me_with_an_api_key(api_server: str, keys: dict[str, str]) -> None:
    me = httpx.get(
        f"{api_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {keys['viewer']}"}, timeout=5
    )
    assert me.status_code == 200
    assert me.json() == {
        "user": None,
        "csrf_token": None,
        "principal": {"name": "test viewer", "role": "viewer", "hospital_id": None, "via": "api_key"},
    }


def unsafe_routes() -> list[tuple[str, str]]:
    """Every unsafe route that a session may call (not the public sign-in), signing out last."""
    return sorted(
        ((m, p) for m, p in app_routes() if m in UNSAFE and "anonymous" not in RULES[(m, p)].allow),
        key=lambda mp: (mp == ("POST", "/api/v1/auth/logout"), mp),
    )


def test_every_unsafe_call_with_the_cookie_needs_the_csrf_token(
    api_server: str, browsers: dict[str, Browser], crew_browser: Browser
) -> None:
    assert len(unsafe_routes()) >= 12
    for method, path in unsafe_routes():
        # An admin, or a crew's tablet for the crew's own calls.
        admin = browsers["admin"] if "admin" in RULES[(method, path)].allow else crew_browser
        concrete = "/".join("999999" if part.startswith("{") else part for part in path.split("/"))
        body = {} if method != "DELETE" else None
        missing = admin.client.request(method, concrete, json=body)
        forged = admin.client.request(method, concrete, json=body, headers={"X-CSRF-Token": "forged"})
        assert (method, path, missing.status_code, forged.status_code) == (method, path, 403, 403)
        # The right token from another site's page is refused too.
        cross = admin.client.request(
            method,
            concrete,
            json=body,
            headers={"X-CSRF-Token": admin.csrf_token, "Origin": "https://evil.example"},
        )
        assert (method, path, cross.status_code) == (method, path, 403)
        same = admin.client.request(
            method, concrete, json=body, headers={"X-CSRF-Token": admin.csrf_token, "Origin": api_server}
        )
        assert same.status_code not in (401, 403), (method, path, same.text)


def test_api_keys_need_no_csrf_token(api_server: str, keys: dict[str, str]) -> None:
    resp = httpx.post(
        f"{api_server}/api/v1/geofences",
        headers={"Authorization": f"Bearer {keys['dispatcher']}"},
        json={
            "name": "Test",
            "kind": "service_area",
            "shape": {"type": "circle", "center": [108.24, 16.04], "radius_m": 200},
        },
        timeout=10,
    )
    assert resp.status_code == 201, resp.text


def test_a_session_acts_under_its_username(
    api_server: str, browsers: dict[str, Browser], vehicle: tuple[int, str]
) -> None:
    resp = browsers["dispatcher"].call(
        "POST", "/api/v1/journeys", {"vehicle_id": vehicle[0], "incident": {"lat": 16.061, "lon": 108.224}}
    )
    assert resp.status_code == 201 and resp.json()["created_by"] == "test-dispatcher"
    assert (
        browsers["viewer"]
        .call(
            "POST",
            "/api/v1/journeys",
            {"vehicle_id": vehicle[0], "incident": {"lat": 16.061, "lon": 108.224}},
        )
        .status_code
        == 403
    )


def test_sessions_expire_and_slide(
    api_server: str, browsers: dict[str, Browser], db: psycopg.Connection
) -> None:
    viewer, admin = browsers["viewer"], browsers["admin"]
    db.execute(
        "UPDATE sessions SET last_seen_at = now() - interval '2 hours', expires_at = now() + interval '10 hours'"
    )
    assert viewer.call("GET", "/api/v1/vehicles").status_code == 200
    (left,) = db.execute(
        "SELECT expires_at - now() FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'test-viewer'"
    ).fetchone()  # type: ignore[misc]
    assert left.total_seconds() > 11.9 * 3600  # slid forward: 12 h from now
    # ...but never past the absolute lifetime.
    db.execute(
        "UPDATE sessions SET created_at = now() - interval '7 days' + interval '1 hour',"
        " last_seen_at = now() - interval '2 hours'"
    )
    assert admin.call("GET", "/api/v1/vehicles").status_code == 200
    (capped,) = db.execute(
        "SELECT expires_at - now() FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'test-admin'"
    ).fetchone()  # type: ignore[misc]
    assert capped.total_seconds() <= 3600
    db.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert viewer.call("GET", "/api/v1/vehicles").status_code == 401


def test_failed_logins_are_throttled_per_username(
    api_server: str, users: dict[str, str], db: psycopg.Connection
) -> None:
    for _ in range(5):
        assert login(api_server, "test-viewer", "not the password at all").status_code == 401
    blocked = login(api_server, "test-viewer", PASSWORD)  # even the right password now
    assert blocked.status_code == 429
    assert 800 <= int(blocked.headers["retry-after"]) <= 900
    assert "try again" in blocked.json()["detail"]
    # Shared by every API process: the count lives in PostgreSQL.
    assert db.execute("SELECT count(*) FROM login_failures WHERE username = 'test-viewer'").fetchone() == (5,)
    # Another account from the same address is not blocked, and a success clears its own failures.
    assert login(api_server, "test-admin", "not the password at all").status_code == 401
    assert login(api_server, "test-admin", PASSWORD).status_code == 200
    assert db.execute("SELECT count(*) FROM login_failures WHERE username = 'test-admin'").fetchone() == (0,)
    # Once the window has passed, the name may try again.
    db.execute("UPDATE login_failures SET at = at - interval '15 minutes'")
    assert login(api_server, "test-viewer", PASSWORD).status_code == 200


def test_failed_logins_are_throttled_per_address(api_server: str, users: dict[str, str]) -> None:
    for i in range(20):
        assert login(api_server, f"guess-{i}", "not the password at all").status_code == 401
    assert login(api_server, "test-dispatcher", PASSWORD).status_code == 429


def test_passwords_are_stored_as_salted_argon2id(
    api_server: str, browsers: dict[str, Browser], db: psycopg.Connection
) -> None:
    for name in ("lan.one", "lan.two"):
        created = browsers["admin"].call(
            "POST", "/api/v1/users", {"username": name, "password": "same long password", "role": "viewer"}
        )
        assert created.status_code == 201, created.text
        assert "password" not in created.text and "argon2" not in created.text
    hashes = [
        r[0] for r in db.execute("SELECT password_hash FROM users WHERE username LIKE 'lan.%' ORDER BY id")
    ]
    assert all(h.startswith("$argon2id$v=19$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert PasswordHasher().verify(hashes[0], "same long password")
    assert "same long password" not in str(db.execute("SELECT * FROM users").fetchall())


def test_admins_manage_accounts(
    api_server: str, browsers: dict[str, Browser], db: psycopg.Connection, own_hospital: int
) -> None:
    admin = browsers["admin"]
    create = {
        "username": "bvdn.ed",
        "password": "a long passphrase",
        "role": "hospital",
        "hospital_id": own_hospital,
    }
    created = admin.call("POST", "/api/v1/users", create)
    assert created.status_code == 201 and created.json()["hospital_id"] == own_hospital
    user_id = created.json()["id"]
    assert admin.call("POST", "/api/v1/users", {**create, "username": "BVDN.ED"}).status_code == 409
    assert (
        admin.call("POST", "/api/v1/users", {**create, "username": "x2", "password": "short"}).status_code
        == 422
    )
    assert (
        admin.call("POST", "/api/v1/users", {**create, "username": "bv2", "hospital_id": None}).status_code
        == 422
    )
    assert (
        admin.call("POST", "/api/v1/users", {**create, "username": "bv3", "hospital_id": 999999}).status_code
        == 422
    )
    listed = admin.call("GET", "/api/v1/users").json()["users"]
    assert "bvdn.ed" in [u["username"] for u in listed] and all("password_hash" not in u for u in listed)

    hospital = sign_in(api_server, "bvdn.ed", "a long passphrase")
    assert hospital.call("GET", "/api/v1/journeys").status_code == 200
    # A password reset ends the account's sessions; the old password stops working.
    reset = admin.call("PATCH", f"/api/v1/users/{user_id}", {"password": "another long passphrase"})
    assert reset.status_code == 200
    assert hospital.call("GET", "/api/v1/journeys").status_code == 401
    assert login(api_server, "bvdn.ed", "a long passphrase").status_code == 401
    hospital = sign_in(api_server, "bvdn.ed", "another long passphrase")
    # Disabling does too; a role change drops the hospital.
    assert admin.call("PATCH", f"/api/v1/users/{user_id}", {"disabled": True}).json()["disabled"] is True
    assert hospital.call("GET", "/api/v1/journeys").status_code == 401
    changed = admin.call("PATCH", f"/api/v1/users/{user_id}", {"role": "viewer", "disabled": False}).json()
    assert (changed["role"], changed["hospital_id"], changed["disabled"]) == ("viewer", None, False)
    assert admin.call("PATCH", f"/api/v1/users/{user_id}", {"role": "hospital"}).status_code == 422
    assert admin.call("PATCH", "/api/v1/users/999999", {"disabled": True}).status_code == 404
    # The last enabled admin stays an admin.
    me = admin.user["id"]
    assert admin.call("PATCH", f"/api/v1/users/{me}", {"role": "viewer"}).status_code == 409
    assert admin.call("PATCH", f"/api/v1/users/{me}", {"disabled": True}).status_code == 409


def test_admins_issue_list_and_revoke_api_keys(
    api_server: str, browsers: dict[str, Browser], own_hospital: int
) -> None:
    admin = browsers["admin"]
    issued = admin.call(
        "POST", "/api/v1/api-keys", {"name": "BV board", "role": "hospital", "hospital_id": own_hospital}
    )
    assert issued.status_code == 201, issued.text
    key = issued.json()
    assert key["key"].startswith("amb_") and key["created_by"] == "test-admin"
    bearer = {"Authorization": f"Bearer {key['key']}"}
    inbound = httpx.get(f"{api_server}/api/v1/hospitals/{own_hospital}/inbound", headers=bearer, timeout=5)
    assert inbound.status_code == 200
    listed = admin.call("GET", "/api/v1/api-keys").json()["api_keys"]
    assert [k["name"] for k in listed] == ["BV board"]
    assert key["key"] not in str(listed) and "key_hash" not in listed[0]
    assert admin.call("POST", "/api/v1/api-keys", {"name": "x", "role": "hospital"}).status_code == 422
    assert admin.call("DELETE", f"/api/v1/api-keys/{key['id']}").status_code == 204
    assert httpx.get(f"{api_server}/api/v1/auth/me", headers=bearer, timeout=5).status_code == 401
    assert admin.call("GET", "/api/v1/api-keys").json()["api_keys"][0]["revoked_at"] is not None
    assert admin.call("DELETE", "/api/v1/api-keys/999999").status_code == 404


def amb_admin(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "admin.cli", "--database-url", TEST_DATABASE_URL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_the_first_admin_comes_from_the_command_line(api_server: str, db: psycopg.Connection) -> None:
    weak = amb_admin("create-user", "root", "--role", "admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr
    made = amb_admin(
        "create-user",
        "root",
        "--role",
        "admin",
        "--display-name",
        "Quản trị",
        "--password-stdin",
        stdin="the first admin password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "the first admin password" not in made.stdout
    again = amb_admin(
        "create-user", "ROOT", "--role", "viewer", "--password-stdin", stdin="another password\n"
    )
    assert again.returncode == 2 and "taken" in again.stderr
    hospital = amb_admin(
        "create-user",
        "bvdn",
        "--role",
        "hospital",
        "--hospital-name",
        "Bệnh viện Đà Nẵng",
        "--password-stdin",
        stdin="hospital password\n",
    )
    assert hospital.returncode == 0, hospital.stderr
    no_tty = amb_admin("create-user", "someone", "--role", "viewer")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert sign_in(api_server, "root", "the first admin password").user["display_name"] == "Quản trị"
    # --replace (make run's demo users): a new password for the same account, its sessions ended.
    replaced = amb_admin(
        "create-user",
        "bvdn",
        "--role",
        "hospital",
        "--hospital-name",
        "Bệnh viện Đà Nẵng",
        "--password-stdin",
        "--replace",
        stdin="a new hospital password\n",
    )
    assert replaced.returncode == 0, replaced.stderr
    assert login(api_server, "bvdn", "hospital password").status_code == 401
    assert login(api_server, "bvdn", "a new hospital password").status_code == 200
    assert db.execute("SELECT count(*) FROM users").fetchone() == (2,)


@pytest.mark.parametrize("origin", ["https://evil.example"])
def test_a_cross_site_login_is_refused(api_server: str, users: dict[str, str], origin: str) -> None:
    assert login(api_server, "test-admin", PASSWORD, Origin=origin).status_code == 403
    assert login(api_server, "test-admin", PASSWORD, Origin=api_server).status_code == 200
