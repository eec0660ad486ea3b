"""What every process needs to run, and nothing of the domain: settings of where PostgreSQL and the
message engine are (config), the connection pool and named SQL files (db), logging and the signal-driven
main loop (process), progress of long jobs on the terminal (progress).

May import: third-party libraries only (no package of the project).
"""
