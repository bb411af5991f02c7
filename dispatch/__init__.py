"""The ticket domain: states, transitions, deadlines, escalation, evaluation. Pure: no I/O frameworks."""
