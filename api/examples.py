"""Example response bodies for the OpenAPI document (shapes as the API returns them)."""

from __future__ import annotations

from typing import Any

T = "2026-11-20T03:00:00.000Z"
POSITION = {
    "time": T,
    "received_at": "2026-11-20T03:00:00.412Z",
    "lat": 16.0598,
    "lon": 108.2189,
    "speed_kmh": 41.5,
    "heading": 92.0,
    "accuracy_m": 4.0,
    "satellites": 9,
}
VEHICLE = {
    "id": 3,
    "plate": "43A12345",
    "call_sign": "115-07",
    "kind": "ambulance",
    "device_id": "862095050123456",
    "position": POSITION,
    "age_s": 2.4,
    "heard_age_s": 2.4,
    "gps_fix": True,
    "no_fix_since": None,
    "status": "en_route",
    "journey_id": 7,
}
VEHICLES = {"vehicles": [VEHICLE]}
TRACK = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[108.2150, 16.0750], [108.2160, 16.0745]]},
            "properties": {"kind": "path", "vehicle_id": 3, "times": [T, "2026-11-20T03:00:05.000Z"]},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [108.2150, 16.0750]},
            "properties": {
                "kind": "fix",
                "time": T,
                "speed_kmh": 38.0,
                "heading": 120.0,
                "late": False,
                "device_id": "862095050123456",
            },
        },
    ],
    "properties": {"vehicle_id": 3, "from": "2026-11-20T02:00:00.000Z", "to": T, "count": 2},
}
UNIT_STATUS = {"vehicle_id": 3, "unit_status": "out_of_service"}
JOURNEY: dict[str, Any] = {
    "id": 7,
    "vehicle_id": 3,
    "call_sign": "115-07",
    "plate": "43A12345",
    "status": "en_route",
    "priority": 1,
    "incident_lat": 16.061,
    "incident_lon": 108.224,
    "incident_address": "12 Bạch Đằng, Hải Châu",
    "scene_radius_m": 150.0,
    "destination_hospital_id": 1,
    "destination_name_vi": "Bệnh viện Đà Nẵng",
    "destination_name_en": "Da Nang Hospital",
    "note": None,
    "created_by": "lan.dispatch",
    "call_received_at": "2026-11-20T02:58:30.000Z",
    "dispatched_at": T,
    "en_route_at": "2026-11-20T03:00:40.000Z",
    "on_scene_at": None,
    "transporting_at": None,
    "at_hospital_at": None,
    "returning_at": None,
    "completed_at": None,
    "cancelled_at": None,
    "updated_at": "2026-11-20T03:00:40.000Z",
    "open": True,
}
STATUS_LOG = [
    {
        "from_status": None,
        "to_status": "dispatched",
        "at": T,
        "source": "dispatcher",
        "rule": "lan.dispatch",
        "device_id": None,
        "fix_time": None,
    },
    {
        "from_status": "dispatched",
        "to_status": "en_route",
        "at": "2026-11-20T03:00:40.000Z",
        "source": "rule",
        "rule": "moving",
        "device_id": "862095050123456",
        "fix_time": "2026-11-20T03:00:40.000Z",
    },
]
JOURNEYS = {"journeys": [JOURNEY]}
JOURNEY_DETAIL = {**JOURNEY, "status_log": STATUS_LOG}
REPORT = {
    "journey": {**JOURNEY, "status": "completed", "open": False},
    "timestamps": {"dispatched_at": T, "en_route_at": "2026-11-20T03:00:40.000Z"},
    "intervals_s": {
        "response": 412,
        "turnout": 40,
        "on_scene": 600,
        "transport": 540,
        "at_hospital": 900,
        "total": 3100,
    },
    "distance_m": 9120,
    "max_speed_kmh": 72.5,
    "avg_moving_speed_kmh": 34.2,
    "fix_count": 2980,
    "stops": [
        {"from": "2026-11-20T03:07:00.000Z", "to": "2026-11-20T03:17:00.000Z", "lat": 16.061, "lon": 108.224}
    ],
    "overspeed": [],
    "status_log": STATUS_LOG,
}
JOURNEY_GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [108.224, 16.061]},
            "properties": {"kind": "incident", "address": "12 Bạch Đằng, Hải Châu"},
        }
    ],
    "properties": {"journey_id": 7, "distance_m": 9120, "fix_count": 2980},
}
REPLAY = {
    "journey": JOURNEY,
    "status_log": STATUS_LOG,
    "frames": [
        {"time": T, "lat": 16.075, "lon": 108.215, "speed_kmh": 38.0, "heading": 120.0, "status": "en_route"}
    ],
}
HOSPITAL = {
    "id": 1,
    "name_vi": "Bệnh viện Đà Nẵng",
    "name_en": "Da Nang Hospital",
    "category": "general",
    "has_emergency": True,
    "lat": 16.0727,
    "lon": 108.2155,
}
HOSPITALS = {
    "from": {"lat": 16.061, "lon": 108.224},
    "hospitals": [{**HOSPITAL, "duration_s": 312, "distance_m": 2410}],
}
INBOUND = {
    "hospital_id": 1,
    "inbound": [
        {
            "journey_id": 7,
            "vehicle_id": 3,
            "call_sign": "115-07",
            "plate": "43A12345",
            "status": "transporting",
            "priority": 1,
            "position": {"lat": 16.066, "lon": 108.219, "speed_kmh": 45.0, "heading": 330.0, "time": T},
            "fix_age_s": 1.8,
            "distance_left_m": 1320,
            "eta_s": 170,
            "arrival_at": "2026-11-20T03:02:50.000Z",
            "arrival_window": {"early_at": "2026-11-20T03:02:31.000Z", "late_at": "2026-11-20T03:03:34.000Z"},
            "scene_eta_s": None,
        }
    ],
}
ETA = {
    "vehicle_id": 3,
    "from": POSITION,
    "to": {"lat": 16.0727, "lon": 108.2155, "hospital_id": 1},
    "distance_m": 2410,
    "duration_s": 312,
    "arrival_at": "2026-11-20T03:05:12.000Z",
    "arrival_window": {"early_at": "2026-11-20T03:04:40.000Z", "late_at": "2026-11-20T03:06:30.000Z"},
    "route": {"type": "LineString", "coordinates": [[108.2189, 16.0598], [108.2155, 16.0727]]},
}
FASTEST = {
    "to": {"lat": 16.061, "lon": 108.224},
    "units": [{**VEHICLE, "status": "available", "journey_id": None, "duration_s": 240, "distance_m": 1830}],
}
GEOFENCE = {
    "type": "Feature",
    "id": 12,
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[108.2154, 16.0738], [108.2166, 16.0727], [108.2154, 16.0738]]],
    },
    "properties": {
        "id": 12,
        "name": "Cổng cấp cứu BV Đà Nẵng",
        "kind": "hospital_area",
        "shape": {"type": "circle", "center": [108.2155, 16.0727], "radius_m": 120},
        "hysteresis_m": 15.0,
        "speed_limit_kmh": None,
        "hospital_id": None,
        "station_id": None,
        "journey_id": None,
        "active": True,
        "created_at": T,
        "updated_at": T,
    },
}
GEOFENCES = {"type": "FeatureCollection", "features": [GEOFENCE]}
EVENTS = {
    "events": [
        {
            "id": 981,
            "at": T,
            "kind": "sos",
            "severity": "critical",
            "vehicle_id": 3,
            "journey_id": 7,
            "geofence_id": None,
            "hospital_id": 1,
            "lat": 16.0598,
            "lon": 108.2189,
            "details": {"alarm": "sos"},
        }
    ]
}
CONFIG = {
    "tile_url": "",
    "tile_attribution": "",
    "map_center": [16.06, 108.215],
    "map_zoom": 14,
    "offline_after_s": 90.0,
}
ROADS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[108.2235, 16.0614], [108.2293, 16.0613]]},
            "properties": {"name": "Cầu Rồng", "highway": "primary", "oneway": False},
        }
    ],
}
HEALTH = {"status": "ok", "database": "ok", "broker": "ok"}
