"""API settings (environment variables prefixed AMB_API_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """How the API listens, and what the map shows."""

    model_config = SettingsConfigDict(env_prefix="AMB_API_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP server.")
    workers: int = Field(
        1,
        ge=1,
        description="API processes sharing the port (uvicorn workers: one listening socket, the kernel "
        "deals the connections); each has its own websocket clients and its own amb.committed queue.",
    )
    tile_url: str = Field(
        "",
        description="XYZ tile URL template for the map background, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png;"
        " empty: no tiles, the road network is drawn as vectors (works offline).",
    )
    tile_attribution: str = Field("", description="Attribution of the tile server, shown on the map.")
    map_center_lat: float = Field(16.06, description="Initial map centre (latitude).")
    map_center_lon: float = Field(108.215, description="Initial map centre (longitude).")
    map_zoom: int = Field(14, ge=1, le=19, description="Initial map zoom.")
    offline_after_s: float = Field(
        90.0, gt=0, description="A vehicle silent this long is shown as disconnected."
    )
    stream_queue_size: int = Field(
        256,
        ge=1,
        description="Messages buffered per websocket client; a client further behind is disconnected.",
    )
    stream_heartbeat_s: float = Field(15.0, gt=0, description="Heartbeat period on the websocket.")
    client_id_prefix: str = Field("amb-api", description="Prefix of this process's broker connection name.")
    session_idle_s: float = Field(
        12 * 3600, gt=0, description="A browser session unused this long ends (sliding expiry)."
    )
    session_absolute_s: float = Field(
        7 * 24 * 3600, gt=0, description="However active, a browser session ends this long after login."
    )
    cookie_secure: bool | None = Field(
        None,
        description="Mark the session cookie Secure (HTTPS only). Unset: Secure unless AMB_ENV is"
        " development or test.",
    )
    login_max_failures_per_user: int = Field(
        5,
        ge=1,
        description="Failed logins allowed per username from one client address in the window before"
        " that address gets 429 for that username (other addresses are not affected).",
    )
    login_max_failures_per_ip: int = Field(
        20, ge=1, description="Failed logins allowed per client address in the window before 429."
    )
    login_slowdown_after: int = Field(
        10,
        ge=1,
        description="Failed logins of one username from anywhere in the window after which attempts from"
        " addresses the account has no session from are spaced out (1 s, 2 s, 4 s ... up to"
        " AMB_API_LOGIN_SLOWDOWN_MAX_S); the username is never locked.",
    )
    login_slowdown_max_s: float = Field(
        30, gt=0, description="The longest spacing between login attempts of a username under attack."
    )
    login_window_s: float = Field(900, gt=0, description="The failed-login window (seconds).")
    max_body_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request body of most routes (413 beyond)."
    )
    max_geofence_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body creating or changing a geofence (413 beyond)."
    )
    stream_max_per_principal: int = Field(
        20, ge=1, description="Websockets one API key or one user may hold open on one API process."
    )
    stream_max_per_address: int = Field(
        200, ge=1, description="Websockets one client address may hold open on one API process."
    )
    stream_subscribe_burst: int = Field(
        5, ge=1, description="`subscribe` messages a websocket may send at once (each reads a snapshot)."
    )
    stream_subscribe_interval_s: float = Field(
        2.0, gt=0, description="After the burst, one `subscribe` per this many seconds per websocket."
    )
    stream_max_message_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest websocket message a client may send (1009 beyond)."
    )
    stream_ticket_s: float = Field(
        30, gt=0, description="Lifetime of a single-use websocket ticket (POST /api/v1/stream/ticket)."
    )
    public_track_per_minute: int = Field(
        120, ge=1, description="Requests per minute per client address to the public caller-tracking API."
    )
    crew_code_minutes: float = Field(
        15, gt=0, description="Lifetime of a crew sign-in code (the QR code a dispatcher shows the tablet)."
    )
    tracker_url: str = Field(
        "",
        description="Where a crew tablet sends its own GPS fixes when it is the vehicle's tracker: the"
        " gateway's OsmAnd/HTTP listener as the browser reaches it (e.g. https://track.example.vn/osmand);"
        " empty: http://<this host>:5055/.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) allowed besides the API's own host for"
        " cookie-authenticated websockets and logins, e.g. behind a proxy that rewrites Host.",
    )
    stream_reauth_s: float = Field(
        60.0,
        gt=0,
        description="How often a websocket re-checks its session or key (ended: closed with 4401).",
    )

    def secure_cookies(self, env: str) -> bool:
        """Whether the session cookie carries Secure in this environment."""
        return self.cookie_secure if self.cookie_secure is not None else env not in ("development", "test")
