"""The category taxonomy (部件/事件 → 大类 → 小类) and its 立案结案标准, parsed and checked from a CSV table.

Shape of the national digital city-management classification (GB/T 30428.2 style): two digits per level,
`01` 部件 (components) and `02` 事件 (events) at the root, e.g. `0101` 公用设施, `010101` 上水井盖. Each 小类
(six digits) carries what a city publishes as its 立案结案标准: when a report is registered, when the case
counts as done, the time limits to acknowledge and to handle (hours, working or natural), whether it is
urgent, which kind of unit is normally responsible, and how close and how recent a report must be to merge
with an open ticket. It is data: `yunguan/demo_data/categories.csv` ships a demo table and a city replaces
it with its own. `parse` reports every problem at once, with line numbers.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from dispatch.errors import TaxonomyError

COLUMNS = (
    "code", "name", "kind", "parent", "ack_limit_h", "handle_limit_h", "time_basis", "urgent", "unit_kind",
    "register_standard", "close_standard", "merge_distance_m", "merge_window_h",
)
DEFAULT_MERGE_DISTANCE_M = 50.0
DEFAULT_MERGE_WINDOW_H = 24.0


class Kind(StrEnum):
    COMPONENT = "component"  # 部件: a physical asset with an owner, identified by a 16-digit id
    EVENT = "event"  # 事件: a situation or behaviour


class TimeBasis(StrEnum):
    WORKING = "working"  # counted in office hours on working days (dispatch.worktime.WorkingTime)
    NATURAL = "natural"  # counted 24/7


ROOTS = {"01": Kind.COMPONENT, "02": Kind.EVENT}

# The code rule, written once: two digits per level, so a code's length is its level. A 小类 (the only level
# with time limits, the one a ticket must carry to be registered) has six. The API's `level` field, the
# browser's pickers (through the vocabulary document) and the actions API's check all read it from here.
LEVEL_DIGITS = MappingProxyType({"root": 2, "class": 4, "subclass": 6})  # 门类, 大类, 小类
SUBCLASS_DIGITS = LEVEL_DIGITS["subclass"]
_LEVEL_OF_LENGTH = {n: level for level, n in LEVEL_DIGITS.items()}


def level_of(code: str) -> str | None:
    """"root", "class" or "subclass" for a well-formed code (digits only, 2, 4 or 6 of them), else None."""
    return _LEVEL_OF_LENGTH.get(len(code)) if code.isascii() and code.isdigit() else None


def is_subclass_code(code: str) -> bool:
    """Whether `code` has the shape of a 小类 code (six digits); whether the table has it is another question."""
    return level_of(code) == "subclass"

# Kinds of responsible unit a 小类 normally goes to; the responsibility matrix (权责清单) names the unit.
UNIT_KINDS = MappingProxyType({
    "water": "供水企业", "drainage": "排水管理", "gas": "燃气企业", "power": "供电企业", "telecom": "通信运营商",
    "heating": "供热企业", "lighting": "路灯管理", "sanitation": "环境卫生", "greening": "园林绿化",
    "roads": "市政道路", "traffic_police": "公安交警", "transport": "交通运输", "enforcement": "城管执法",
    "street_office": "街道办事处", "housing": "住房和城乡建设", "ecology": "生态环境", "market": "市场监管",
    "fire": "消防救援", "water_affairs": "水务河道", "civil_defense": "人民防空", "sports": "体育",
    "lifeline": "城市生命线监测",
})


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    kind: Kind
    parent: str | None = None
    ack_limit_h: float | None = None
    handle_limit_h: float | None = None
    time_basis: TimeBasis | None = None
    urgent: bool = False
    unit_kind: str | None = None
    register_standard: str | None = None  # 立案标准
    close_standard: str | None = None  # 结案标准
    merge_distance_m: float = DEFAULT_MERGE_DISTANCE_M
    merge_window_h: float = DEFAULT_MERGE_WINDOW_H

    @property
    def level(self) -> str:
        return _LEVEL_OF_LENGTH[len(self.code)]

    @property
    def is_subclass(self) -> bool:
        return len(self.code) == SUBCLASS_DIGITS


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    by_code: Mapping[str, Category] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", MappingProxyType({c.code: c for c in self.categories}))

    def get(self, code: str | None) -> Category | None:
        return self.by_code.get(code) if code else None

    def subclasses(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.is_subclass)


def component_id(county: str, subclass: str, serial: int) -> str:
    """The 16-digit id of one 部件: county code (6) + 大类 (2) + 小类 (2) + serial (6), e.g.
    220102 01 01 000123 for the 123rd 上水井盖 of 南关区. `subclass` is the six-digit 小类 code (01xxxx)."""
    if len(county) != 6 or not county.isdigit():
        raise ValueError(f"county code {county!r} must be 6 digits")
    if not is_subclass_code(subclass) or ROOTS.get(subclass[:2]) is not Kind.COMPONENT:
        raise ValueError(f"{subclass!r} is not a 部件 小类 code (01xxxx)")
    if not 0 < serial < 1_000_000:
        raise ValueError("serial must be 1-999999")
    return f"{county}{subclass[2:]}{serial:06d}"


def parse_component_id(value: str) -> tuple[str, str, int]:
    """(county, 小类 code, serial) of a 16-digit 部件 id."""
    if len(value) != 16 or not value.isdigit():
        raise ValueError(f"{value!r} is not a 16-digit component id")
    return value[:6], "01" + value[6:10], int(value[10:])


def read_csv(text: str) -> Taxonomy:
    """Parse the table from CSV text (UTF-8 decoded, header row first)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise TaxonomyError([f"header: missing column(s) {', '.join(missing)}"])
    return parse(reader, first_line=2)


def read_file(path: Path | str) -> Taxonomy:
    return read_csv(Path(path).read_text(encoding="utf-8-sig"))


def parse(rows: Iterable[Mapping[str, str | None]], first_line: int = 1) -> Taxonomy:
    """Check and build the taxonomy; parents must come before their children."""
    problems: list[str] = []
    out: dict[str, Category] = {}
    for line, row in enumerate(rows, start=first_line):
        try:
            category = _row(row, out)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if category.code in out:
            problems.append(f"line {line}: code {category.code} appears twice")
            continue
        out[category.code] = category
    if problems:
        raise TaxonomyError(problems)
    if not any(c.is_subclass for c in out.values()):
        raise TaxonomyError(["the table has no 小类 (six-digit codes)"])
    return Taxonomy(tuple(out.values()))


def _text(row: Mapping[str, str | None], key: str) -> str:
    return (row.get(key) or "").strip()


def _number(row, key: str, *, required: bool) -> float | None:
    raw = _text(row, key)
    if not raw:
        if required:
            raise ValueError(f"{key} is required for a 小类")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} {raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{key} must be positive, got {raw}")
    return value


def _row(row: Mapping[str, str | None], known: Mapping[str, Category]) -> Category:
    code, name, parent = _text(row, "code"), _text(row, "name"), _text(row, "parent") or None
    if level_of(code) is None:
        raise ValueError(f"code {code!r} must be 2, 4 or 6 digits (门类, 大类, 小类)")
    if not name:
        raise ValueError(f"code {code}: name is empty")
    try:
        kind = Kind(_text(row, "kind"))
    except ValueError:
        raise ValueError(f"code {code}: kind must be component or event") from None
    if len(code) == LEVEL_DIGITS["root"]:
        if ROOTS.get(code) is not kind or parent:
            raise ValueError(f"code {code}: roots are 01 component and 02 event, without a parent")
    else:
        if parent != code[:-2]:
            raise ValueError(f"code {code}: parent must be {code[:-2]}, got {parent!r}")
        if parent not in known:
            raise ValueError(f"code {code}: parent {parent} is not defined above it")
        if known[parent].kind is not kind:
            raise ValueError(f"code {code}: kind {kind} differs from its parent's {known[parent].kind}")
    subclass = is_subclass_code(code)
    detail = {k: _text(row, k) for k in COLUMNS[4:]}
    if not subclass:
        filled = [k for k, v in detail.items() if v]
        if filled:
            raise ValueError(f"code {code}: only a 小类 carries {', '.join(filled)}")
        return Category(code=code, name=name, kind=kind, parent=parent)
    ack, handle = _number(row, "ack_limit_h", required=True), _number(row, "handle_limit_h", required=True)
    if ack > handle:
        raise ValueError(f"code {code}: ack_limit_h {ack} exceeds handle_limit_h {handle}")
    urgent_raw = detail["urgent"].lower()
    if urgent_raw not in ("", "0", "1", "true", "false"):
        raise ValueError(f"code {code}: urgent must be 0 or 1, got {detail['urgent']!r}")
    urgent = urgent_raw in ("1", "true")
    try:
        basis = TimeBasis(detail["time_basis"])
    except ValueError:
        raise ValueError(f"code {code}: time_basis must be working or natural") from None
    if urgent and basis is not TimeBasis.NATURAL:
        raise ValueError(f"code {code}: an urgent 小类 runs on natural hours (24/7)")
    if detail["unit_kind"] not in UNIT_KINDS:
        raise ValueError(f"code {code}: unit_kind {detail['unit_kind']!r} is not one of {', '.join(UNIT_KINDS)}")
    for key in ("register_standard", "close_standard"):
        if not detail[key]:
            raise ValueError(f"code {code}: {key} (立案/结案标准) is required for a 小类")
    return Category(
        code=code, name=name, kind=kind, parent=parent, ack_limit_h=ack, handle_limit_h=handle, time_basis=basis,
        urgent=urgent, unit_kind=detail["unit_kind"], register_standard=detail["register_standard"],
        close_standard=detail["close_standard"],
        merge_distance_m=_number(row, "merge_distance_m", required=False) or DEFAULT_MERGE_DISTANCE_M,
        merge_window_h=_number(row, "merge_window_h", required=False) or DEFAULT_MERGE_WINDOW_H,
    )
