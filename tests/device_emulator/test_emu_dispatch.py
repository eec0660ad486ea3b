"""Vehicles that follow dispatch: they wait at their station, drive to the assigned scene and
hospital, and return; a recall sends them back."""

from __future__ import annotations

import random

from device_emulator.fleet import MissionTiming, Phase, Vehicle
from device_emulator.places import load_stations
from device_emulator.roads import RoadGraph, load_road_graph


def make_vehicle(graph: RoadGraph) -> Vehicle:
    station = load_stations(graph)[0]
    hospital = load_stations(graph)[1]  # any place will do as the fallback hospital
    return Vehicle(
        graph, station, [hospital], random.Random(1), MissionTiming(scale=0.05), follow_dispatch=True
    )


def run_until(vehicle: Vehicle, phase: Phase, limit_s: int = 7200) -> int:
    for second in range(limit_s):
        if vehicle.step(1.0).phase is phase:
            return second
    raise AssertionError(f"never reached {phase}")


def test_waits_for_dispatch_then_follows_it() -> None:
    graph = load_road_graph()
    vehicle = make_vehicle(graph)
    for _ in range(600):
        assert vehicle.step(1.0).phase is Phase.IDLE  # no mission of its own
    scene, hospital = 100, graph.nearest_node(16.0721689, 108.2166379)[0]
    assert vehicle.assign(scene, hospital, "test call")
    assert not vehicle.assign(5, None, "another")  # busy
    run_until(vehicle, Phase.AT_SCENE)
    assert vehicle.node == scene
    run_until(vehicle, Phase.AT_HOSPITAL)
    assert vehicle.node == hospital
    run_until(vehicle, Phase.IDLE)
    assert vehicle.node == vehicle.station.node and vehicle.assignment is None


def test_no_destination_means_no_transport() -> None:
    vehicle = make_vehicle(load_road_graph())
    vehicle.assign(100, None, "treated on scene")
    run_until(vehicle, Phase.AT_SCENE)
    phases = {vehicle.step(1.0).phase for _ in range(3600)}
    assert Phase.TO_HOSPITAL not in phases and Phase.IDLE in phases


def test_recall_on_the_way_returns_to_the_station() -> None:
    vehicle = make_vehicle(load_road_graph())
    vehicle.assign(300, None, "cancelled call")
    run_until(vehicle, Phase.TO_SCENE)
    for _ in range(5):
        vehicle.step(1.0)
    vehicle.recall()
    phases = [vehicle.step(1.0).phase for _ in range(3600)]
    assert Phase.AT_SCENE not in phases and phases[-1] is Phase.IDLE
    assert vehicle.node == vehicle.station.node
