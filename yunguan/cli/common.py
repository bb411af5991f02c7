"""What every command shares: the usage error (exit 2), output, and the wiring of a process."""
from __future__ import annotations

import logging
import sys

from config import Settings

log = logging.getLogger("yunguan")


class UsageError(Exception):
    """Bad usage or bad input: exit status 2, nothing half-written."""


def say(message: str, err: bool = False) -> None:
    print(message, flush=True, file=sys.stderr if err else sys.stdout)


def wiring(settings: Settings):
    from yunguan.wiring import build

    return build(settings)
