"""The tracking core: what the fixes mean. Geofencing with hysteresis (geofencing, geofences), the event
rules (vehicle_rules), the journey status machine (journey_machine), their pure evaluation of one
vehicle's fixes (evaluation), the worker that runs it over committed fixes and stores the outcome
(worker, tracking_store), ETAs (eta), and the domain's read and write side: fleet, vehicles, journeys,
events, reports, fastest units.

May import: runtime, fixes, roads, messaging (the worker publishes what it committed). Knows no
transport and no HTTP.
"""
