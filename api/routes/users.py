"""Accounts and API keys, managed by admins: people who sign in, and keys for integrations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from accounts import access
from accounts import users as accounts
from api.account_schemas import ApiKeyCreate, UserCreate, UserUpdate
from api.deps import Admin, Conn
from api.openapi import AUTH_ERRORS, Responses, error, ok

router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=AUTH_ERRORS)

USER = {
    "id": 3,
    "username": "bvdn.ed",
    "display_name": "Khoa Cấp cứu BV Đà Nẵng",
    "role": "hospital",
    "hospital_id": 1,
    "disabled": False,
    "created_at": "2026-11-20T03:00:00.000Z",
    "last_login_at": None,
}
KEY = {
    "id": 4,
    "name": "BV Đà Nẵng ED board",
    "role": "hospital",
    "hospital_id": 1,
    "created_at": "2026-11-20T03:00:00.000Z",
    "created_by": "admin",
    "expires_at": None,
    "revoked_at": None,
}
BAD_ACCOUNT: Responses = {
    422: error(
        "Invalid input (weak password, unknown hospital...)", "a password needs at least 10 characters"
    )
}
USER_NOT_FOUND: Responses = {404: error("No such user", "no user with id 9")}
LAST_ADMIN: Responses = {
    409: error("The last enabled admin cannot be disabled or demoted", "this is the last enabled admin")
}
TAKEN: Responses = {409: error("The username is taken (whatever its case)", "the username 'lan' is taken")}


@router.get("/users", summary="Every account (never a password hash)", responses=ok({"users": [USER]}))
async def list_users(conn: Conn, _: Admin) -> dict[str, Any]:
    return {"users": await accounts.list_users(conn)}


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account (password hashed with argon2id)",
    responses=ok(USER, BAD_ACCOUNT, TAKEN, status=201),
)
async def create_user(body: UserCreate, conn: Conn, _: Admin) -> dict[str, Any]:
    return await accounts.create_user(
        conn, body.username, body.password, body.role, body.hospital_id, body.display_name, body.vehicle_id
    )


@router.patch(
    "/users/{user_id}",
    summary="Change an account's role, hospital, name or state, or reset its password",
    description="A password reset, a role or hospital change, or disabling ends the account's "
    "sessions. The last enabled admin can be neither disabled nor demoted (409).",
    responses=ok({**USER, "disabled": True}, USER_NOT_FOUND, BAD_ACCOUNT, LAST_ADMIN),
)
async def update_user(user_id: int, body: UserUpdate, conn: Conn, _: Admin) -> dict[str, Any]:
    return await accounts.update_user(conn, user_id, body.model_dump(exclude_unset=True))


@router.get("/api-keys", summary="Every API key (never its secret)", responses=ok({"api_keys": [KEY]}))
async def list_api_keys(conn: Conn, _: Admin) -> dict[str, Any]:
    return {"api_keys": await access.list_api_keys(conn)}


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API key for an integration; `key` is shown once",
    responses=ok({**KEY, "key": "amb_Qk3...one-time-secret"}, BAD_ACCOUNT, status=201),
)
async def create_api_key(body: ApiKeyCreate, conn: Conn, principal: Admin) -> dict[str, Any]:
    return await access.issue_api_key(
        conn, body.name, body.role, body.hospital_id, body.expires_at, principal.name
    )


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key (at once, for every API process)",
    responses={204: {"description": "Revoked"}, 404: error("No such key", "no API key with id 9")},
)
async def revoke_api_key(key_id: int, conn: Conn, _: Admin) -> Response:
    await access.revoke_api_key(conn, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
