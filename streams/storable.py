"""What PostgreSQL can store: the checks that keep a value accepted at the edge from failing in the database.

A report accepted over HTTP or read from Kafka is written as text and JSONB. PostgreSQL refuses some values
that JSON and Python accept: NUL in text (`\\u0000`), lone surrogates (they are not UTF-8), NaN and infinities
in JSONB, integers that our JSON encoder (orjson) cannot write (beyond 64 bits). Deep nesting exhausts the
recursion of every JSON library on the way. Each of these once reached the worker, failed there on every retry
and held intake up for the whole city; here they are refused where they arrive, naming the offending path.
"""
from __future__ import annotations

import math

MAX_DEPTH = 16
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class NotStorable(ValueError):
    """`path` names the offending value the way an API error names a field (`reporter.name`, `extra.a[3]`)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def text_problem(value: str) -> str | None:
    """Why PostgreSQL would refuse this string, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (\\u{ord(value[exc.start]):04x}), which is not valid Unicode"
    return None


def check(value: object, path: str = "", depth: int = 0) -> None:
    """Raise NotStorable for the first value under `value` that PostgreSQL (text or JSONB) cannot store.

    Iterative in spirit: the depth limit is checked before descending, so a hostile value never reaches
    Python's recursion limit here."""
    if depth > MAX_DEPTH:
        raise NotStorable(path or "(body)", f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise NotStorable(path or "(body)", problem)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise NotStorable(path or "(body)", "integer out of range (at most 64 bits)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise NotStorable(path or "(body)", "must be a finite number (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            problem = text_problem(name)
            if problem:
                raise NotStorable(path or "(body)", f"a key {problem}")
            check(item, f"{path}.{name}" if path else name, depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check(item, f"{path}[{i}]", depth + 1)
