"""Tables, queries and migrations: the one place that speaks SQL."""
