"""The category table: the shipped demo table is complete and valid; a bad table is reported in full."""
from __future__ import annotations

import csv

import pytest

from dispatch.errors import TaxonomyError
from dispatch.taxonomy import (
    COLUMNS,
    Kind,
    TimeBasis,
    component_id,
    parse_component_id,
    read_csv,
    read_file,
)

DEMO = "yunguan/demo_data/categories.csv"
# Codes the simulator, the sensors and the existing tests send.
USED_ELSEWHERE = ["020102", "020502", "020503", "020501", "020101", "020107", "010305", "010120", "010101",
                  "010103", "020301", "020302", "020401", "020402", "020403", "010107"]


def test_demo_table_shape():
    taxonomy = read_file(DEMO)
    subclasses = taxonomy.subclasses()
    assert 60 <= len(subclasses) <= 110
    assert {c.code for c in taxonomy.categories if c.level == "root"} == {"01", "02"}
    classes = {c.code: c.name for c in taxonomy.categories if c.level == "class"}
    assert classes["0101"] == "公用设施" and classes["0102"] == "道路交通" and classes["0204"] == "突发事件"
    for c in subclasses:
        assert c.register_standard and c.close_standard and c.unit_kind
        assert 0 < c.ack_limit_h <= c.handle_limit_h
        assert not c.urgent or c.time_basis is TimeBasis.NATURAL
        assert taxonomy.get(c.parent).kind is c.kind
    for code in USED_ELSEWHERE:
        assert taxonomy.get(code) is not None and taxonomy.get(code).is_subclass, code
    assert taxonomy.get("020403").urgent and taxonomy.get("020403").kind is Kind.EVENT
    assert {c.kind for c in subclasses} == {Kind.COMPONENT, Kind.EVENT}


def test_demo_table_still_has_the_columns_the_loader_reads():
    with open(DEMO, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[:6] == ["code", "name", "kind", "parent", "ack_limit_h", "handle_limit_h"]
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    codes = [r["code"] for r in rows]
    for i, row in enumerate(rows):  # parents come before children, as yunguan.demo inserts them in order
        assert not row["parent"] or row["parent"] in codes[:i]


HEADER = ",".join(COLUMNS)
GOOD_SUB = "050505,测试,event,0205,1,4,working,0,enforcement,立案,结案,,"


def _table(*lines: str) -> str:
    return "\n".join([HEADER, "02,事件,event,,,,,,,,,,", "0205,街面秩序,event,02,,,,,,,,,", *lines]) + "\n"


def test_a_minimal_table_parses_with_default_merge_rules():
    taxonomy = read_csv(_table("020501,游商,event,0205,1,4,working,0,enforcement,立案,结案,,"))
    sub = taxonomy.get("020501")
    assert (sub.merge_distance_m, sub.merge_window_h, sub.urgent) == (50.0, 24.0, False)


def test_every_problem_is_reported_with_its_line():
    text = _table(
        "020501,游商,event,0205,1,4,working,0,enforcement,立案,结案,,",
        "020501,重复,event,0205,1,4,working,0,enforcement,立案,结案,,",  # line 5: duplicate
        "020601,父类缺失,event,0206,1,4,working,0,enforcement,立案,结案,,",  # line 6: parent not defined
        "020502,超时,event,0205,5,4,working,0,enforcement,立案,结案,,",  # line 7: ack > handle
        "020503,急,event,0205,1,4,working,1,enforcement,立案,结案,,",  # line 8: urgent on working time
        "020504,单位,event,0205,1,4,working,0,police_dept,立案,结案,,",  # line 9: unknown unit kind
        "020505,无标准,event,0205,1,4,working,0,enforcement,,结案,,",  # line 10: missing 立案标准
        "0206,其他,event,02,1,,,,,,,,",  # line 11: limits on a 大类
        "020506,部件错,component,0205,1,4,working,0,enforcement,立案,结案,,",  # line 12: kind differs
        "02050,五位,event,0205,1,4,working,0,enforcement,立案,结案,,",  # line 13: bad code
        "020507,距离,event,0205,1,4,working,0,enforcement,立案,结案,-5,",  # line 14: negative distance
    )
    with pytest.raises(TaxonomyError) as caught:
        read_csv(text)
    lines = [p.split(":")[0] for p in caught.value.problems]
    assert lines == [f"line {n}" for n in range(5, 15)]
    assert "twice" in caught.value.problems[0] and "not defined" in caught.value.problems[1]


def test_missing_columns_and_empty_tables_are_refused():
    with pytest.raises(TaxonomyError, match="missing column"):
        read_csv("code,name,kind,parent,ack_limit_h,handle_limit_h\n01,部件,component,,,\n")
    with pytest.raises(TaxonomyError, match="no 小类"):
        read_csv(_table())
    with pytest.raises(TaxonomyError, match="roots"):
        read_csv(HEADER + "\n03,其他,event,,,,,,,,,,\n")


def test_component_ids():
    assert component_id("220102", "010101", 123) == "2201020101000123"
    assert parse_component_id("2201020101000123") == ("220102", "010101", 123)
    for bad in (("2201", "010101", 1), ("220102", "020101", 1), ("220102", "010101", 0)):
        with pytest.raises(ValueError):
            component_id(*bad)
    with pytest.raises(ValueError):
        parse_component_id("22010201")
