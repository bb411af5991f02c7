"""City lifeline monitoring (城市生命线), pure: thresholds per device kind and metric, and the small state
machine that turns a device's readings into alarms — raised, raised higher, lowered, cleared — with debounce
and hysteresis, so a value flapping around a threshold raises one alarm, not hundreds; and offline detection.

Per (device, metric) the machine holds the raised `level` (0: normal, 1–3) and, while a change is waiting for
its debounce, the `pending` target with how many readings and since when it has held. A reading's target is
the highest level whose threshold it passes, or a raised level it still holds within the hysteresis band
(above: value > threshold − hysteresis; below: value < threshold + hysteresis). A target above the level
raises after the target level's `raise_after` (N consecutive readings or T seconds); a target below clears
(to the target) after the raised level's `clear_after`. A reading at the level cancels what was pending.

`step` never reads a clock or a database; a reading not later than the state's `last_at` changes nothing
(a redelivery or an old reading), which makes applying the same reading twice harmless.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

LEVELS = (1, 2, 3)


class Direction(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class AlarmKind(StrEnum):
    """The device's tickets: one per device and kind (contract §10)."""

    THRESHOLD = "threshold"
    OFFLINE = "offline"


@dataclass(frozen=True)
class After:
    """Debounce: `count` consecutive readings, or `seconds` since the first of them (whichever is given;
    both: whichever is reached first). Neither: at once."""

    count: int | None = None
    seconds: float | None = None

    def reached(self, count: int, since: datetime, at: datetime) -> bool:
        if self.count is None and self.seconds is None:
            return True
        if self.count is not None and count >= self.count:
            return True
        return self.seconds is not None and (at - since).total_seconds() >= self.seconds


@dataclass(frozen=True)
class Threshold:
    level: int
    direction: Direction
    value: float
    raise_after: After = After()
    clear_after: After = After()
    hysteresis: float = 0.0

    def passed(self, v: float) -> bool:
        return v > self.value if self.direction is Direction.ABOVE else v < self.value

    def held(self, v: float) -> bool:
        """Still beyond the threshold within the hysteresis band (a raised level does not clear here)."""
        if self.direction is Direction.ABOVE:
            return v > self.value - self.hysteresis
        return v < self.value + self.hysteresis


@dataclass(frozen=True)
class KindRules:
    """A device kind's rules: seconds without a reading before it counts as offline, the 小类 of its alarm
    and offline tickets (None: an operator classifies), and its thresholds by metric, by level."""

    kind: str
    offline_after_s: float
    category: str | None = None
    offline_category: str | None = None
    metrics: Mapping[str, tuple[Threshold, ...]] = field(default_factory=dict)
    _quiet: Mapping[str, tuple[float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_quiet", {m: quiet_band(ts) for m, ts in self.metrics.items()})

    def thresholds(self, metric: str) -> tuple[Threshold, ...]:
        return self.metrics.get(metric, ())

    def quiet(self, metric: str) -> tuple[float, float]:
        """`quiet_band` of the metric's thresholds, computed once."""
        return self._quiet.get(metric, EVERYTHING)


@dataclass(frozen=True)
class MetricState:
    level: int = 0
    pending: int | None = None  # the level a change waits to reach
    count: int = 0
    since: datetime | None = None
    last_at: datetime | None = None

    def dump(self) -> dict:
        return {"level": self.level, "pending": self.pending, "count": self.count,
                "since": self.since.isoformat() if self.since else None}

    @classmethod
    def load(cls, data: Mapping[str, Any] | None, last_at: datetime | None) -> MetricState:
        if not data:
            return cls(last_at=last_at)
        since = data.get("since")
        return cls(int(data.get("level") or 0), data.get("pending"), int(data.get("count") or 0),
                   datetime.fromisoformat(since) if since else None, last_at)


class Change(StrEnum):
    RAISED = "raised"  # from normal to a level
    HIGHER = "higher"  # to a higher level
    LOWER = "lower"  # to a lower level, still in alarm
    CLEARED = "cleared"  # back to normal


@dataclass(frozen=True)
class Alarm:
    """A change of a metric's alarm level, as the ticket's history tells it."""

    metric: str
    change: Change
    level: int
    previous: int
    value: float
    at: datetime
    threshold: Threshold | None = None  # the threshold of the new level (None when cleared)

    def note(self) -> str:
        words = {Change.RAISED: "报警 alarm", Change.HIGHER: "报警升级 alarm raised",
                 Change.LOWER: "报警降级 alarm lowered", Change.CLEARED: "报警解除 alarm cleared"}[self.change]
        where = ""
        if self.threshold is not None:
            sign = ">" if self.threshold.direction is Direction.ABOVE else "<"
            where = f" ({sign} {self.threshold.value:g})"
        return (f"{words}: {self.metric} = {self.value:g}{where}, level {self.previous} → {self.level}, "
                f"at {self.at.isoformat()}")


EVERYTHING = (-math.inf, math.inf)


def quiet_band(thresholds: Iterable[Threshold]) -> tuple[float, float]:
    """The values (lo ≤ v ≤ hi) that pass none of the thresholds: a reading in it, of a metric at level 0
    with nothing pending, changes nothing but the state's `last_at` (`step` would return the same state).
    Nearly every reading is one; the lifeline consumer skips `step` for them."""
    lo, hi = EVERYTHING
    for t in thresholds:
        if t.direction is Direction.ABOVE:
            hi = min(hi, t.value)
        else:
            lo = max(lo, t.value)
    return lo, hi


def target_level(thresholds: Iterable[Threshold], level: int, v: float) -> int:
    """The level a value points to: the highest it passes, or a raised one it still holds (hysteresis)."""
    best = 0
    for t in thresholds:
        if t.passed(v) or (t.level <= level and t.held(v)):
            best = max(best, t.level)
    return best


def step(state: MetricState, thresholds: tuple[Threshold, ...], metric: str, v: float,
         at: datetime) -> tuple[MetricState, Alarm | None]:
    """One reading of one metric: the new state and the alarm change it makes, if any."""
    if state.last_at is not None and at <= state.last_at:
        return state, None  # redelivered, or older than what was applied
    if not thresholds:
        return replace(state, last_at=at), None
    target = target_level(thresholds, state.level, v)
    if target == state.level:  # nearly every reading: at its level, nothing to wait for
        return MetricState(state.level, None, 0, None, at), None
    by_level = {t.level: t for t in thresholds}
    rising = target > state.level
    same_way = state.pending is not None and (state.pending > state.level) == rising
    count = state.count + 1 if same_way else 1
    since = state.since if same_way and state.since is not None else at
    current = by_level.get(state.level)  # None: its threshold was removed since; clear at once
    rule = by_level[target].raise_after if rising else (current.clear_after if current else After())
    if not rule.reached(count, since, at):
        return MetricState(state.level, target, count, since, at), None
    if rising:
        change = Change.RAISED if state.level == 0 else Change.HIGHER
    else:
        change = Change.CLEARED if target == 0 else Change.LOWER
    return (MetricState(target, None, 0, None, at),
            Alarm(metric, change, target, state.level, v, at, by_level.get(target)))


@dataclass
class Advanced:
    """What a batch of readings did to the metrics' states (`advance`)."""

    changed: dict[tuple[str, str], MetricState]  # the states that changed at some reading: to be written
    alarms: dict[str, list[Alarm]]  # by device, in time order
    last: dict[str, datetime]  # each device's newest instant
    level_changed: set[str]  # devices with a metric whose level is not what it was


def advance(states: dict[tuple[str, str], MetricState], readings: Iterable[tuple],
            kinds: Mapping[str, str], rules: Mapping[str, KindRules]) -> Advanced:
    """`step` every reading of a batch, by device in time order, from `states` ({(device, metric): state},
    absent: fresh; updated here). `readings`: (device_id, at, {metric: value}, ...) tuples of devices in
    `kinds`, sorted by device and instant.

    Only states that changed at some reading (not only in last_at) count as changed — nearly every reading
    changes nothing but the instant — and they carry the instant of the metric's last reading. A reading in its
    metric's quiet band while the metric is at level 0 with nothing pending skips `step`: only its instant is
    kept, and handed to the state when a later reading steps it or when the state is written."""
    fresh = MetricState()
    before = dict(states)
    alarms: dict[str, list[Alarm]] = {}
    last: dict[str, datetime] = {}
    dirty: set[tuple[str, str]] = set()
    quiet_at: dict[tuple[str, str], datetime] = {}
    for device_id, at, values, *_ in readings:
        kind_rules = rules.get(kinds[device_id])
        for metric, value in (sorted(values.items()) if len(values) > 1 else values.items()):
            key = (device_id, metric)
            old = states.get(key, fresh)
            if old.level == 0 and old.pending is None:
                lo, hi = kind_rules.quiet(metric) if kind_rules else EVERYTHING
                if lo <= value <= hi:
                    if old.last_at is None or at > old.last_at:
                        quiet_at[key] = at
                    continue
            quiet = quiet_at.pop(key, None)
            if quiet is not None:  # what the quiet readings before this one left
                old = MetricState(old.level, None, 0, None, quiet)
            states[key], alarm = step(old, kind_rules.thresholds(metric) if kind_rules else (), metric, value, at)
            if key not in dirty and _moved(old, states[key]):
                dirty.add(key)
            if alarm is not None:
                alarms.setdefault(device_id, []).append(alarm)
        last[device_id] = at  # in time order: the device's newest instant
    changed = {}
    for key in dirty:
        state, quiet = states[key], quiet_at.get(key)
        if quiet is not None and (state.last_at is None or quiet > state.last_at):
            state = states[key] = replace(state, last_at=quiet)
        changed[key] = state
    level_changed = {k[0] for k, s in changed.items() if s.level != before.get(k, fresh).level}
    return Advanced(changed, alarms, last, level_changed)


def _moved(old: MetricState, new: MetricState) -> bool:
    """A change worth writing: anything but the instant of the last reading."""
    return (old.level, old.pending, old.count, old.since) != (new.level, new.pending, new.count, new.since)


def is_offline(last_at: datetime | None, registered_at: datetime, offline_after_s: float, now: datetime) -> bool:
    """Silent longer than `offline_after_s`: since the last reading, or since registration if none came."""
    return now - (last_at or registered_at) > timedelta(seconds=offline_after_s)


# -- the thresholds file (`yunguan thresholds load`, YAML) ---------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")


class RulesError(ValueError):
    """Every problem of a thresholds file, each with where it is (`kinds.gas.metrics.ppm[1].value: ...`)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _after(value: Any, where: str, problems: list[str]) -> After:
    """`3` (readings), `"90s"`, `"2m"`, `"1h"`, or `{count: 3, seconds: 90}`; absent: at once."""
    if value is None:
        return After()
    if isinstance(value, bool):
        problems.append(f"{where}: give a count of readings or a duration like \"90s\"")
        return After()
    if isinstance(value, int):
        if value < 1:
            problems.append(f"{where}: a count of readings must be at least 1")
        return After(count=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            problems.append(f"{where}: {value!r} is not a count or a duration like \"90s\", \"2m\", \"1h\"")
            return After()
        return After(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)])
    if isinstance(value, Mapping):
        count, seconds = value.get("count"), value.get("seconds")
        unknown = set(value) - {"count", "seconds"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            problems.append(f"{where}.count: must be a whole number of readings, at least 1")
            count = None
        if seconds is not None and (not _number(seconds) or seconds <= 0):
            problems.append(f"{where}.seconds: must be a positive number")
            seconds = None
        return After(count, float(seconds) if seconds is not None else None)
    problems.append(f"{where}: give a count of readings or a duration like \"90s\"")
    return After()


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
_METRIC = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_rules(data: Any) -> list[KindRules]:
    """The thresholds file, checked whole: every problem is collected and raised together (RulesError).

    ```yaml
    kinds:
      gas:
        offline_after: 300          # seconds (or "5m")
        category: "020403"          # the 小类 of its alarm tickets (optional)
        offline_category: null      # of its offline tickets (optional)
        metrics:
          ppm:
            - {level: 1, above: 50, raise_after: 3, clear_after: 3, hysteresis: 5}
            - {level: 2, above: 200, raise_after: "30s"}
    ```
    """
    problems: list[str] = []
    kinds = data.get("kinds") if isinstance(data, Mapping) else None
    if not isinstance(kinds, Mapping) or not kinds:
        raise RulesError(["the file needs a mapping `kinds:` of device kinds"])
    out = []
    for kind, body in kinds.items():
        where = f"kinds.{kind}"
        if not isinstance(kind, str) or not _CODE.match(kind):
            problems.append(f"{where}: a kind is 1–32 letters, digits or _.:-")
        if not isinstance(body, Mapping):
            problems.append(f"{where}: must be a mapping with offline_after and metrics")
            continue
        unknown = set(body) - {"offline_after", "category", "offline_category", "metrics"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        offline = body.get("offline_after")
        offline_s = None
        if isinstance(offline, str):
            m = _DURATION.match(offline)
            offline_s = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] if m else None
        elif _number(offline):
            offline_s = float(offline)
        if offline_s is None or offline_s <= 0:
            problems.append(f"{where}.offline_after: required, seconds without a reading (> 0) or \"5m\"")
        categories = {}
        for key in ("category", "offline_category"):
            value = body.get(key)
            if value is not None and not isinstance(value, str | int):
                problems.append(f"{where}.{key}: a category code")
                value = None
            categories[key] = str(value) if value is not None else None
        metrics = body.get("metrics") or {}
        if not isinstance(metrics, Mapping):
            problems.append(f"{where}.metrics: must map each metric to a list of levels")
            metrics = {}
        parsed: dict[str, tuple[Threshold, ...]] = {}
        for metric, levels in metrics.items():
            mwhere = f"{where}.metrics.{metric}"
            if not isinstance(metric, str) or not _METRIC.match(metric):
                problems.append(f"{mwhere}: a metric name is 1–64 letters, digits or _.-")
            if not isinstance(levels, list) or not levels:
                problems.append(f"{mwhere}: a list of levels ({{level, above|below, ...}})")
                continue
            parsed[str(metric)] = _levels(levels, mwhere, problems)
        out.append(KindRules(str(kind), offline_s or 0.0, categories["category"], categories["offline_category"],
                             parsed))
    if problems:
        raise RulesError(problems)
    return out


def _levels(levels: list, where: str, problems: list[str]) -> tuple[Threshold, ...]:
    found: list[Threshold] = []
    for i, item in enumerate(levels):
        lwhere = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{lwhere}: a mapping {{level, above|below, ...}}")
            continue
        unknown = set(item) - {"level", "above", "below", "raise_after", "clear_after", "hysteresis"}
        if unknown:
            problems.append(f"{lwhere}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        level = item.get("level")
        if level not in LEVELS or isinstance(level, bool):
            problems.append(f"{lwhere}.level: must be 1, 2 or 3")
            level = None
        given = [d for d in Direction if d.value in item]
        if len(given) != 1:
            problems.append(f"{lwhere}: give exactly one of `above` or `below` with the threshold value")
            continue
        direction = given[0]
        value = item[direction.value]
        if not _number(value):
            problems.append(f"{lwhere}.{direction.value}: must be a number")
            continue
        hysteresis = item.get("hysteresis", 0)
        if not _number(hysteresis) or hysteresis < 0:
            problems.append(f"{lwhere}.hysteresis: must be a number ≥ 0")
            hysteresis = 0
        raise_after = _after(item.get("raise_after"), f"{lwhere}.raise_after", problems)
        clear_after = _after(item.get("clear_after"), f"{lwhere}.clear_after", problems)
        if level is not None:
            found.append(Threshold(level, direction, float(value), raise_after, clear_after, float(hysteresis)))
    levels_seen = [t.level for t in found]
    if len(set(levels_seen)) != len(levels_seen):
        problems.append(f"{where}: each level at most once")
    if len({t.direction for t in found}) > 1:
        problems.append(f"{where}: all levels of a metric point the same way (above or below)")
    ordered = sorted(found, key=lambda t: t.level)
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        worse = higher.value > lower.value if higher.direction is Direction.ABOVE else higher.value < lower.value
        if lower.direction is higher.direction and not worse:
            problems.append(f"{where}: level {higher.level} must lie beyond level {lower.level} "
                            f"({higher.value:g} vs {lower.value:g})")
    return tuple(ordered)
