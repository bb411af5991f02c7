"""What every command shares: the usage error (exit 2), output, and the wiring of a process."""
from __future__ import annotations

import json
import logging
import sys

from config import Settings

log = logging.getLogger("yunguan")


class UsageError(Exception):
    """Bad usage or bad input: exit status 2, nothing half-written."""


def say(message: str, err: bool = False) -> None:
    print(message, flush=True, file=sys.stderr if err else sys.stdout)


def json_line(record: dict) -> None:
    """One record of a `… list` command as a JSON line: instants and dates in ISO 8601 (RFC 3339), Chinese
    as itself, so every list reads the same and pipes into `jq`."""
    say(json.dumps(record, ensure_ascii=False, default=_isoformat))


def _isoformat(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def wiring(settings: Settings):
    from yunguan.wiring import build

    return build(settings)
