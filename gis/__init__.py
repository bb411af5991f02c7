"""Areas, coordinate systems, the in-memory router, the responsibility matrix, geocoding."""
