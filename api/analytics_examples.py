"""Examples of the analytics answers for the OpenAPI document (abridged)."""

from __future__ import annotations

_FIGURES = {"n": 412, "p50_s": 402.5, "p90_s": 611.0, "mean_s": 431.2, "within_8": 0.71, "within_15": 0.99}
DEFINITION = {
    "column": "response_s",
    "start": "call",
    "end": "on_scene",
    "vi": "Thời gian phản ứng: từ cuộc gọi (hoặc lúc điều xe khi không có giờ cuộc gọi) đến lúc có mặt tại hiện trường.",
    "en": "Response time: from the call (or the dispatch when no call time is recorded) to arriving on scene.",
}
DEFINITIONS = {"intervals": [DEFINITION]}
SUMMARY = {
    "from": "2026-11-01T00:00:00+07:00",
    "to": "2026-12-01T00:00:00+07:00",
    "bucket": "day",
    "targets": {"urban_s": 480, "rural_s": 900},
    "areas_note": "area: the district health centre nearest the incident (no ward boundaries are shipped)",
    "overall": _FIGURES,
    "periods": [{"period": "2026-11-01", **_FIGURES}],
    "areas": [{"area_id": 11, "name_vi": "Trung tâm Y tế quận Hải Châu", "name_en": "Hai Chau District Health Centre", **_FIGURES}],
    "hours": [{"hour": 8, **_FIGURES}],
    "weekdays": [{"isodow": 1, **_FIGURES}],
    "priorities": [{"priority": 1, **_FIGURES}],
    "journeys": 430,
    "demo_journeys": 430,
    "intervals": [{**DEFINITION, "n": 412, "p50_s": 402.5, "p90_s": 611.0, "mean_s": 431.2}],
    "histogram": [{"minute": 6, "n": 88}],
    "hospitals": [{"hospital_id": 1, "name_vi": "Bệnh viện Đà Nẵng", "name_en": "Da Nang Hospital", "n": 120, "p50_s": 1320.0, "p90_s": 2400.0, "mean_s": 1500.0}],
    "area_list": [{"id": 11, "name_vi": "Trung tâm Y tế quận Hải Châu", "name_en": "Hai Chau District Health Centre", "lat": 16.0764, "lon": 108.2143}],
}  # fmt: skip
INCIDENTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [108.2101, 16.0612]},
            "properties": {"journey_id": 7, "priority": 1, "response_s": 455.0, "call_at": "2026-11-20T01:02:03+00:00", "demo": True},
        }
    ],
}  # fmt: skip
REACH = {
    "limit_s": 480.0,
    "stations": [
        {
            "station_id": 1,
            "name": "Trạm 115 mẫu 1 — Hải Châu",
            "is_sample": True,
            "lat": 16.0755,
            "lon": 108.2153,
            "junctions": 640,
            "hull": {"type": "Polygon", "coordinates": [[[108.20, 16.06], [108.23, 16.06], [108.23, 16.09], [108.20, 16.06]]]},
        }
    ],
    "gaps": {"junctions": 35, "points": {"type": "MultiPoint", "coordinates": [[108.25, 16.036]]}},
    "junctions": 2100,
    "covered_share": 0.983,
}  # fmt: skip
UNITS = {
    "from": "2026-11-01T00:00:00+07:00",
    "to": "2026-12-01T00:00:00+07:00",
    "units": [
        {"vehicle_id": 1, "call_sign": "115-01", "plate": "43A90001", "missions": 96, "period_s": 2592000.0,
         "mission_s": 388800.0, "out_of_service_s": 21600.0, "available_s": 2181600.0}
    ],
}  # fmt: skip
CSV = (
    "journey_id,demo,status,priority,call_sign,plate,area,destination_hospital,incident_lat,incident_lon,"
    "call_received_at,dispatched_at,...,response_s,...\n"
    "7,True,completed,1,115-01,43A90001,Trung tâm Y tế quận Hải Châu,Bệnh viện Đà Nẵng,16.0612,108.2101,"
    "2026-11-20T08:01:00+07:00,2026-11-20T08:02:03+07:00,...,455.0,...\n"
)
