"""When is a gazetteer match good enough to route a hotline report that has only an address?

A community or landmark whose name occurs in the address (trigram word similarity ≥ 0.8) and clearly beats
the next candidate is a place: the report is routed from its point. A road is never enough on its own —
人民大街 runs through four districts — so is a weak or ambiguous match: the ticket waits for an operator,
who sees the candidates. The thresholds are deliberately strict; a wrong district is worse than a wait.
"""
from __future__ import annotations

from dataclasses import dataclass

CONFIDENT_SCORE = 0.8
MARGIN = 0.1
PRECISE_KINDS = frozenset({"community", "landmark"})


@dataclass(frozen=True)
class GeocodeDecision:
    place: dict | None  # the chosen candidate {name, kind, score, lon, lat}, or None
    reason: str
    candidates: tuple[dict, ...]

    def explain(self, address: str) -> dict:
        return {"address": address, "confident": self.place is not None, "reason": self.reason,
                "place": self.place, "candidates": list(self.candidates)}


def choose(candidates: list[dict]) -> GeocodeDecision:
    """`candidates`: best first, as `store.duties.geocode` returns them."""
    found = tuple(candidates[:5])
    if not found:
        return GeocodeDecision(None, "no gazetteer name occurs in the address", found)
    best = found[0]
    if best["score"] < CONFIDENT_SCORE:
        return GeocodeDecision(None, f"best match {best['name']} scores {best['score']:.2f} < {CONFIDENT_SCORE}", found)
    if best["kind"] not in PRECISE_KINDS:
        return GeocodeDecision(None, f"{best['name']} is a {best['kind']}: too long to place a report", found)
    rivals = [c for c in found[1:] if c["kind"] in PRECISE_KINDS and c["name"] != best["name"]]
    if rivals and best["score"] - rivals[0]["score"] < MARGIN:
        return GeocodeDecision(None, f"{best['name']} and {rivals[0]['name']} match about equally", found)
    return GeocodeDecision(best, f"address names {best['kind']} {best['name']} (score {best['score']:.2f})", found)
