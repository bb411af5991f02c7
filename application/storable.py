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


ROOT = "(body)"
_SHOWN = 80  # characters of a name or path quoted back in an error


def shown(text: str) -> str:
    """`text` safe to quote in an error: NUL and surrogates escaped, long names cut."""
    out = "".join(f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text[:_SHOWN])
    return out + ("…" if len(text) > _SHOWN else "")


def _child(path: str, key: str) -> str:
    return shown(key) if path == ROOT else f"{path}.{shown(key)}"


def scalar_problem(value: object) -> str | None:
    """Why PostgreSQL (text or JSONB) or our JSON encoder would refuse this scalar, or None."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return "integer out of range (at most 64 bits)"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (no NaN or Infinity)"
    return None


def _fine(value: object, depth: int, max_depth: int) -> bool:
    """The quick answer for the common case (every intake message passes here): no paths, no messages.
    Recursion is bounded by `max_depth`."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value and (value.isascii() or text_problem(value) is None)
    if kind is dict:
        if depth >= max_depth:
            return False
        for key, item in value.items():
            if type(key) is not str or "\x00" in key or not (key.isascii() or text_problem(key) is None):
                return False
            if not _fine(item, depth + 1, max_depth):
                return False
        return True
    if kind is list or kind is tuple:
        return depth < max_depth and all(_fine(item, depth + 1, max_depth) for item in value)
    return scalar_problem(value) is None


def check(value: object, max_depth: int = MAX_DEPTH) -> None:
    """Raise NotStorable for the first value under `value`, in document order, that PostgreSQL cannot store,
    or for objects and arrays nested `max_depth` deep. Paths read `reporter.name`, `extra.a[3]`, `[0]`; the
    document itself is `(body)`. A quick pass answers for the common, clean document; only a document it
    refuses is walked again, iteratively and with paths, to name the offender."""
    if _fine(value, 0, max_depth):
        return
    stack = [(value, ROOT, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                raise NotStorable(path, f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                children = []
                for key, child in item.items():
                    name = key if isinstance(key, str) else str(key)
                    problem = text_problem(name)
                    if problem:
                        raise NotStorable(_child(path, name), f"key {problem}")
                    children.append((child, _child(path, name), depth + 1))
            else:
                children = [(child, f"{path if path != ROOT else ''}[{i}]", depth + 1) for i, child in enumerate(item)]
            stack.extend(reversed(children))
            continue
        problem = scalar_problem(item)
        if problem:
            raise NotStorable(path, problem)
