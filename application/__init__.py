"""The application layer: one function per task, between the adapters (web, the worker loop, the CLI) and
store / dispatch / gis. See docs/decisions/0016-application-layer.md for the map."""
