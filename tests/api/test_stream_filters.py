"""Websocket subscriptions: filters (vehicles, bounding box, journey, hospital, event types,
streams), a fresh snapshot then only matching deltas, unsubscribe, a hospital account narrowed to
its own hospital, errors, one serialisation per distinct filter, and streams ended by revocation."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api import hub as hub_module
from api.hub import StreamHub
from api.stream_filter import FilterRequest, ScopeError, StreamFilter, build_filter
from tests.api.conftest import Browser
from tests.api.test_stream import next_of_type, ws_url
from tests.mqtt import publish_committed
from tests.services import Broker
from tests.tracking.test_eta import place_vehicle
from tracking.fleet import register_vehicle

# Hải Châu (inside the box) and Sơn Trà (outside it).
HAI_CHAU = (16.0612, 108.2240)
SON_TRA = (16.0570921, 108.2355425)
BOX = [16.05, 108.20, 16.07, 108.23]


def fix(vehicle_id: int, lat: float, lon: float) -> dict[str, Any]:
    return {
        "vehicle_id": vehicle_id,
        "device_id": f"d{vehicle_id}",
        "time": "2026-11-20T03:00:00.000Z",
        "lat": lat,
        "lon": lon,
        "latest": True,
        "late": False,
    }


def event(
    kind: str,
    vehicle_id: int,
    journey_id: int | None = None,
    hospital_id: int | None = None,
    where: tuple[float, float] | None = HAI_CHAU,
) -> dict[str, Any]:
    lat, lon = where if where else (None, None)
    return {
        "id": 1,
        "at": "2026-11-20T03:00:00.000Z",
        "kind": kind,
        "severity": "info",
        "vehicle_id": vehicle_id,
        "journey_id": journey_id,
        "hospital_id": hospital_id,
        "lat": lat,
        "lon": lon,
        "details": {},
    }


# --- The filter itself (pure) ----------------------------------------------------------------


def test_filters_combine_every_condition() -> None:
    view = build_filter(FilterRequest(vehicles=[1, 2], bbox=tuple(BOX), event_types=["sos"]), None, None)
    assert view.select("fixes", [fix(1, *HAI_CHAU), fix(1, *SON_TRA), fix(3, *HAI_CHAU)]) == [
        fix(1, *HAI_CHAU)
    ]
    events = [
        event("sos", 2),
        event("overspeed", 2),
        event("sos", 2, where=SON_TRA),
        event("sos", 2, where=None),
    ]
    assert view.select("events", events) == [event("sos", 2)]
    assert view.select("etas", [{"vehicle_id": 1, "lat": HAI_CHAU[0], "lon": HAI_CHAU[1]}]) != []


def test_a_journey_filter_follows_the_journeys_vehicle() -> None:
    view = build_filter(FilterRequest(journey_id=7), None, journey_vehicle_id=3)
    assert view.select("fixes", [fix(3, *HAI_CHAU), fix(4, *HAI_CHAU)]) == [fix(3, *HAI_CHAU)]
    assert view.select("events", [event("sos", 3, 7), event("sos", 3, 8)]) == [event("sos", 3, 7)]


def test_a_hospital_scope_is_never_widened() -> None:
    mine = build_filter(
        FilterRequest(streams=["fixes", "events"], vehicles=[5]), hospital_scope=1, journey_vehicle_id=None
    )
    assert mine.hospital_id == 1 and mine.streams == frozenset({"events"})  # no fixes for hospitals
    assert mine.select("events", [event("sos", 5, 9, 1), event("sos", 5, 9, 2), event("sos", 6, 9, 1)]) == [
        event("sos", 5, 9, 1)
    ]
    with pytest.raises(ScopeError):
        build_filter(FilterRequest(hospital_id=2), hospital_scope=1, journey_vehicle_id=None)
    assert build_filter(
        FilterRequest(hospital_id=1), hospital_scope=1, journey_vehicle_id=None
    ) == mine.__class__(streams=frozenset({"events", "etas"}), hospital_id=1)


@pytest.mark.parametrize(
    "bad",
    [{"bbox": [16.1, 108.2, 16.0, 108.3]}, {"streams": ["positions"]}, {"colour": "red"}, {"vehicles": "1"}],
)
def test_bad_filters_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FilterRequest.model_validate(bad)


def test_the_hub_serialises_once_per_distinct_filter() -> None:
    hub = StreamHub(queue_size=10)
    everyone = [hub.subscribe(f"desk{i}") for i in range(50)]
    sos_watchers = [hub.subscribe(f"sos{i}") for i in range(30)]
    hospital = [hub.subscribe(f"bv{i}", hospital_id=1) for i in range(20)]
    sos = StreamFilter(event_types=frozenset({"sos"}))
    for sub in sos_watchers:
        hub.set_view(sub, sos)
    assert hub.views == 3
    with mock.patch.object(hub_module, "_message", wraps=hub_module._message) as serialise:
        hub.publish("events", [event("sos", 1, 4, 1), event("overspeed", 2)])
    assert serialise.call_count == 3  # not 100
    assert all(json.loads(s.queue.get_nowait())["events"][1]["kind"] == "overspeed" for s in everyone)
    assert all(
        [e["kind"] for e in json.loads(s.queue.get_nowait())["events"]] == ["sos"] for s in sos_watchers
    )
    assert all(len(json.loads(s.queue.get_nowait())["events"]) == 1 for s in hospital)
    hub.set_view(everyone[0], None)  # unsubscribed: nothing at all
    hub.publish("fixes", [fix(1, *HAI_CHAU)])
    assert everyone[0].queue.empty() and not everyone[1].queue.empty()
    for sub in [*everyone, *sos_watchers, *hospital]:
        hub.unsubscribe(sub)
    assert hub.views == 0 and len(hub) == 0


# --- Over the wire ------------------------------------------------------------------------------


async def publish(broker: Broker, kind: str, items: list[dict[str, Any]]) -> None:
    await publish_committed(broker, kind, items)


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def quiet(ws: ClientConnection, seconds: float = 1.5) -> list[str]:
    """Every non-heartbeat message type received for a while."""
    seen = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "heartbeat":
                    seen.append(message["type"])
    except TimeoutError:
        return seen


@pytest.fixture
def two_vehicles(db: psycopg.Connection, vehicle: tuple[int, str]) -> tuple[int, int]:
    other = register_vehicle(db, "43A10002", "115-T2")
    place_vehicle(db, vehicle[0], vehicle[1], *HAI_CHAU)
    place_vehicle(db, other.id, "dev-other", *SON_TRA)
    return vehicle[0], other.id


async def test_subscribe_gives_a_fresh_snapshot_then_only_matching_deltas(
    broker: Broker, api_server: str, keys: dict[str, str], two_vehicles: tuple[int, int]
) -> None:
    inside, outside = two_vehicles
    async with connect(ws_url(api_server, keys["viewer"])) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "snapshot" and len(first["vehicles"]) == 2  # the default: the fleet
        await send(
            ws,
            {
                "type": "subscribe",
                "id": "s1",
                "filters": {"bbox": BOX, "streams": ["fixes", "events"], "event_types": ["sos"]},
            },
        )
        ack = await next_of_type(ws, "subscribed")
        assert ack == {
            "type": "subscribed",
            "id": "s1",
            "filters": {
                "streams": ["fixes", "events"],
                "vehicles": None,
                "bbox": BOX,
                "journey_id": None,
                "hospital_id": None,
                "event_types": ["sos"],
            },
        }
        snapshot = await next_of_type(ws, "snapshot")
        assert snapshot["id"] == "s1" and [v["id"] for v in snapshot["vehicles"]] == [inside]
        await publish(broker, "fixes", [fix(outside, *SON_TRA), fix(inside, *HAI_CHAU)])
        assert [f["vehicle_id"] for f in (await next_of_type(ws, "fixes"))["fixes"]] == [inside]
        await publish(
            broker,
            "etas",
            [{"journey_id": 1, "vehicle_id": inside, "lat": 16.06, "lon": 108.22}],
        )
        await publish(
            broker,
            "events",
            [event("overspeed", inside), event("sos", outside, where=SON_TRA)],
        )
        await publish(broker, "events", [event("sos", inside)])
        got = await next_of_type(ws, "events")
        assert [(e["kind"], e["vehicle_id"]) for e in got["events"]] == [("sos", inside)]
        assert await quiet(ws, 0.5) == []  # no etas: not among the streams

        await send(ws, {"type": "unsubscribe", "id": "s1"})
        assert (await next_of_type(ws, "unsubscribed"))["id"] == "s1"
        await publish(broker, "fixes", [fix(inside, *HAI_CHAU)])
        assert await quiet(ws) == []  # heartbeats only
        await send(ws, {"type": "ping"})
        assert (await next_of_type(ws, "pong"))["type"] == "pong"

        # Subscribing again with no filter: the default view back.
        await send(ws, {"type": "subscribe", "id": 2})
        assert (await next_of_type(ws, "subscribed"))["filters"]["streams"] == ["fixes", "events", "etas"]
        assert len((await next_of_type(ws, "snapshot"))["vehicles"]) == 2
        await publish(broker, "fixes", [fix(outside, *SON_TRA)])
        assert [f["vehicle_id"] for f in (await next_of_type(ws, "fixes"))["fixes"]] == [outside]


async def test_a_journey_subscription(
    broker: Broker,
    api_server: str,
    keys: dict[str, str],
    browsers: dict[str, Browser],
    two_vehicles: tuple[int, int],
    own_hospital: int,
) -> None:
    inside, outside = two_vehicles
    created = browsers["dispatcher"].call(
        "POST",
        "/api/v1/journeys",
        {
            "vehicle_id": outside,
            "incident": {"lat": HAI_CHAU[0], "lon": HAI_CHAU[1]},
            "destination_hospital_id": own_hospital,
        },
    )
    journey_id = created.json()["id"]
    async with connect(ws_url(api_server, keys["dispatcher"])) as ws:
        await ws.recv()
        await send(ws, {"type": "subscribe", "id": "j", "filters": {"journey_id": journey_id}})
        await next_of_type(ws, "subscribed")
        assert [v["id"] for v in (await next_of_type(ws, "snapshot"))["vehicles"]] == [outside]
        await publish(broker, "fixes", [fix(inside, *HAI_CHAU), fix(outside, *SON_TRA)])
        assert [f["vehicle_id"] for f in (await next_of_type(ws, "fixes"))["fixes"]] == [outside]
        await publish(broker, "events", [event("sos", inside), event("sos", outside, journey_id)])
        assert [e["journey_id"] for e in (await next_of_type(ws, "events"))["events"]] == [journey_id]
        await send(ws, {"type": "subscribe", "id": "k", "filters": {"journey_id": 999999}})
        error = await next_of_type(ws, "error")
        assert (error["id"], error["error"]) == ("k", "not_found")

    # A hospital account: the journey goes elsewhere, so for it the journey does not exist.
    async with connect(ws_url(api_server, keys["hospital"])) as ws:
        assert "inbound" in json.loads(await ws.recv())
        browsers["dispatcher"].call(
            "PATCH", f"/api/v1/journeys/{journey_id}", {"destination_hospital_id": own_hospital + 1}
        )
        await send(ws, {"type": "subscribe", "id": "h", "filters": {"journey_id": journey_id}})
        assert (await next_of_type(ws, "error"))["error"] == "not_found"


async def test_a_hospital_subscription_stays_within_its_hospital(
    broker: Broker,
    api_server: str,
    keys: dict[str, str],
    browsers: dict[str, Browser],
    own_hospital: int,
    two_vehicles: tuple[int, int],
) -> None:
    inside, outside = two_vehicles
    for vehicle_id in (inside, outside):
        browsers["dispatcher"].call(
            "POST",
            "/api/v1/journeys",
            {
                "vehicle_id": vehicle_id,
                "incident": {"lat": HAI_CHAU[0], "lon": HAI_CHAU[1]},
                "destination_hospital_id": own_hospital,
            },
        )
    # Signed in (cookie and Origin) rather than with a key: the same rules.
    cookie = browsers["hospital"].client.cookies.get("amb_session")
    async with connect(
        ws_url(api_server, None), additional_headers={"Cookie": f"amb_session={cookie}"}, origin=api_server
    ) as ws:  # type: ignore[arg-type]
        first = json.loads(await ws.recv())
        assert first["hospital_id"] == own_hospital and len(first["inbound"]) == 2
        await send(ws, {"type": "subscribe", "id": "x", "filters": {"hospital_id": own_hospital + 1}})
        refused = await next_of_type(ws, "error")
        assert (refused["id"], refused["error"]) == ("x", "forbidden")
        await send(
            ws,
            {"type": "subscribe", "id": "v", "filters": {"vehicles": [inside], "streams": ["fixes", "etas"]}},
        )
        ack = await next_of_type(ws, "subscribed")
        assert ack["filters"]["hospital_id"] == own_hospital and ack["filters"]["streams"] == ["etas"]
        snapshot = await next_of_type(ws, "snapshot")
        assert [a["vehicle_id"] for a in snapshot["inbound"]] == [inside] and "vehicles" not in snapshot
        await publish(broker, "fixes", [fix(inside, *HAI_CHAU)])
        await publish(
            broker,
            "etas",
            [
                {"journey_id": 1, "vehicle_id": inside, "hospital_id": own_hospital + 1},
                {"journey_id": 2, "vehicle_id": outside, "hospital_id": own_hospital},
                {"journey_id": 3, "vehicle_id": inside, "hospital_id": own_hospital},
            ],
        )
        etas = await next_of_type(ws, "etas")
        assert [e["journey_id"] for e in etas["etas"]] == [3]
        assert "fixes" not in await quiet(ws, 0.5)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", "bad_request"),
        ('["subscribe"]', "bad_request"),
        ('{"type": "subscribe", "id": "b", "filters": {"bbox": [1, 2]}}', "bad_request"),
        ('{"type": "subscribe", "id": "b", "filters": {"streams": ["everything"]}}', "bad_request"),
        ('{"type": "unsubscribe", "id": "never-made"}', "unknown_subscription"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "subscribe", "id": {"nested": 1}}', "bad_request"),
    ],
)
async def test_bad_messages_get_an_error_and_the_stream_goes_on(
    api_server: str, keys: dict[str, str], message: str, error: str
) -> None:
    async with connect(ws_url(api_server, keys["viewer"])) as ws:
        await ws.recv()
        await ws.send(message)
        assert (await next_of_type(ws, "error"))["error"] == error
        await send(ws, {"type": "ping"})
        assert (await next_of_type(ws, "pong"))["type"] == "pong"


async def test_revoking_a_key_or_ending_a_session_closes_its_stream(
    api_server: str, keys: dict[str, str], browsers: dict[str, Browser], db: psycopg.Connection
) -> None:
    cookie = browsers["viewer"].client.cookies.get("amb_session")
    async with (
        connect(ws_url(api_server, keys["viewer"])) as by_key,
        connect(
            ws_url(api_server, None),
            additional_headers={"Cookie": f"amb_session={cookie}"},
            origin=api_server,
        ) as by_session,  # type: ignore[arg-type]
    ):
        await by_key.recv()
        await by_session.recv()
        db.execute("UPDATE api_keys SET revoked_at = now() WHERE role = 'viewer'")
        assert browsers["viewer"].call("POST", "/api/v1/auth/logout").status_code == 204
        for ws in (by_key, by_session):
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
