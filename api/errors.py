"""Domain errors mapped to HTTP once; anything else becomes a plain 500 that leaks nothing."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from accounts.access import AccessError, ApiKeyNotFoundError
from accounts.caller_links import CallerLinkGoneError, CallerLinkNotFoundError
from accounts.location_requests import (
    LocationRequestEmptyError,
    LocationRequestGoneError,
    LocationRequestNotFoundError,
)
from accounts.users import LastAdminError, UsernameTakenError, UserNotFoundError
from analytics.stats import AnalyticsInputError
from roads.routing import NoRouteError
from tracking.geofences import GeofenceError, GeofenceNotFoundError
from tracking.journeys import JourneyConflictError, JourneyInputError, JourneyNotFoundError
from tracking.vehicles import VehicleNotFoundError

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[Exception], int] = {
    VehicleNotFoundError: 404,
    GeofenceNotFoundError: 404,
    JourneyNotFoundError: 404,
    GeofenceError: 422,
    AnalyticsInputError: 422,
    JourneyInputError: 422,
    JourneyConflictError: 409,
    NoRouteError: 422,
    AccessError: 422,  # and AccountError: a bad role, hospital, username or password
    UsernameTakenError: 409,
    LastAdminError: 409,
    UserNotFoundError: 404,
    ApiKeyNotFoundError: 404,
    CallerLinkNotFoundError: 404,
    CallerLinkGoneError: 410,
    LocationRequestNotFoundError: 404,
    LocationRequestGoneError: 410,
    LocationRequestEmptyError: 409,
}


def install_error_handlers(app: FastAPI) -> None:
    for error, status in STATUS_BY_ERROR.items():

        async def handler(request: Request, exc: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        app.add_exception_handler(error, handler)

    async def bad_value(request: Request, exc: Exception) -> JSONResponse:
        # SQLSTATE class 22 (data exception) and psycopg's own refusals (a NUL byte in text): a
        # value that passed validation but that PostgreSQL cannot take. The caller's input: 422.
        log.warning("value refused by the database on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "a value in the request cannot be stored or compared"}, status_code=422
        )

    app.add_exception_handler(psycopg.DataError, bad_value)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)
