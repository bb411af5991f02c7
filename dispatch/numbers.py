"""Ticket numbers a person can read over the phone: city prefix, local date, daily sequence."""
from __future__ import annotations

from datetime import date


def ticket_number(prefix: str, day: date, sequence: int) -> str:
    """E.g. CC20261122-00042: five digits cover a busy city's day; longer days simply grow a digit."""
    return f"{prefix}{day:%Y%m%d}-{sequence:05d}"
