"""Response-time analytics: the NEMSIS-style intervals of every journey, from the journey status log
(intervals), their summary table refreshed by amb-tracker, the statistics the /analytics page and its
exports show — percentiles and the share within the 8- and 15-minute targets by period, area, hour,
weekday and priority; the stations' road-time reach; unit utilisation; hospital handover times
(stats) —, the exports (CSV, the monthly PDF report) and the demo back-fill (demo_model, backfill).

May import: runtime, fixes, roads, tracking. Knows no gateway, API, accounts or HTTP.
"""
