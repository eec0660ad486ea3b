"""The road network: reading OpenStreetMap roads (osm), importing them as a routable graph (importer),
routing and ranking by road time with pgRouting (routing), learning speeds from the fleet's own fixes
(speed_learning), and their settings (AMB_ROUTING_*).

May import: runtime, fixes.
"""
