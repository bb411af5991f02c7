"""A random key kept in a file of the state directory, for a platform run without configured keys (one
machine's demo): the audit checkpoints' key and the TOTP sealing key. The first process to need it makes it
(readable by its owner only); every later one reads the same."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def state_key(path: Path, create: bool = True) -> str | None:
    """The key in `path`, made when missing and `create`; None when missing and not `create`."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        key = secrets.token_hex(32)
        f.write(key + "\n")
    return key
