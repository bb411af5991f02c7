"""The hashed spelling of history entries must never change: stored hash chains are re-checked with it."""
from __future__ import annotations

import json
import random

from dispatch.audit import _orjson_spells_alike, canonical_json
from dispatch.model import Status


def _reference(body) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def test_every_code_point_is_spelt_as_the_standard_library_does():
    for start in range(0, 0x110000, 4096):
        text = "".join(chr(c) for c in range(start, min(start + 4096, 0x110000)) if not 0xD800 <= c <= 0xDFFF)
        body = {"note": text, "data": {"说明": text[:50], "k": None}, "actor": "grid-001"}
        assert _orjson_spells_alike(body)
        assert canonical_json(body) == _reference(body), f"code points from U+{start:04X}"


def test_mixed_values_match_and_floats_take_the_standard_way():
    rng = random.Random(3)
    for _ in range(2000):
        data = {rng.choice(["a", "z", "距离", "b_2", "A"]): rng.choice([
            None, True, False, 0, -1, 2 ** 62, rng.randint(-10 ** 6, 10 ** 6), "x\n\t\u2028\x7f",
            [1, "二", None], {"inner": [True, {"deep": "值"}]}, 12.5, 1e16, 1e-05, float(rng.random()),
        ]) for _ in range(rng.randint(0, 5))}
        body = {"ticket_no": "YG-20261123-000001", "from": Status.DISPATCHED, "to": "handling", "data": data}
        assert canonical_json(body) == _reference(body)
    assert not _orjson_spells_alike({"d": 1e16}), "floats must not take the fast path"
    assert not _orjson_spells_alike({"n": 2 ** 64})
