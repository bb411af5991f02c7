"""Open311 GeoReport v2 (contract §9): what the platform's data is in the spec's terms — pure mappings.

The web adapter (web/open311.py) parses and renders; this module decides: which categories are services
(every 小类, grouped by its 大类), what a ticket is as a service request (status open/closed, the public note
of its last change, the service notice from the category's limits), and what of a resident's words may
leave the platform (phone and ID numbers written into a description are masked). Nothing here reads the
reporter's data: a request object is built from the ticket only, so email, phone and names sent with a POST
cannot appear in a GET.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from dispatch.model import FINAL_STATUSES
from dispatch.taxonomy import Category, Kind, Taxonomy
from dispatch.vocabulary import ACTION_LABELS, STATUS_LABELS

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# `batch`: a POST answers a token at once and the ticket number once the worker has written the report
# (GET tokens/{token}); the spec's `realtime` would promise the number in the POST's own answer.
SERVICE_TYPE = "batch"
KIND_NAMES = {Kind.COMPONENT: "部件", Kind.EVENT: "事件"}
MAX_IDS = 100  # service_request_id values in one GET
MAX_RESULTS = 1000  # the spec's default volume: 90 days or the first 1000 requests, whichever is smaller
MAX_SPAN_DAYS = 90

# Mainland mobile numbers and 18-character resident ID numbers written into free text (a resident's own
# description, an operator's copy of a call) are masked before the text leaves through Open311.
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
_ID_NUMBER = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")


@dataclass(frozen=True)
class Service:
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str

    def as_dict(self) -> dict:
        return {"service_code": self.service_code, "service_name": self.service_name,
                "description": self.description, "metadata": self.metadata, "type": self.type,
                "keywords": self.keywords, "group": self.group}


def services(taxonomy: Taxonomy) -> list[Service]:
    """One service per 小类, in code order; `group` is its 大类's name. No service has attributes (metadata
    false): the category is the whole question, the description carries the rest."""
    out = []
    for c in sorted(taxonomy.subclasses(), key=lambda c: c.code):
        parent = taxonomy.get(c.parent)
        group = parent.name if parent else ""
        out.append(Service(
            service_code=c.code, service_name=c.name,
            description=c.register_standard or c.name,
            metadata=False, type=SERVICE_TYPE,
            keywords=", ".join(k for k in (c.name, group, KIND_NAMES.get(c.kind, "")) if k),
            group=group))
    return out


def service(taxonomy: Taxonomy, code: str) -> Category | None:
    """The category behind a service code: a 小类 of the table, else None (a 大类 is no service)."""
    c = taxonomy.get(code)
    return c if c is not None and c.is_subclass else None


def service_notice(category: Category | None) -> str | None:
    """What the city commits to for this kind of problem: the 处置时限 of the category (立案结案标准)."""
    if category is None or category.handle_limit_h is None:
        return None
    hours = f"{category.handle_limit_h:g}"
    basis = "工作时间" if str(category.time_basis) == "working" else "自然时间"
    notice = f"立案后按规定时限处置：{hours} 小时（{basis}）"
    if category.close_standard:
        notice += f"；结案标准：{category.close_standard}"
    return notice


def open_or_closed(status: str) -> str:
    """The spec has two statuses: `closed` for a ticket that is closed or was not registered, else `open`."""
    return "closed" if status in {str(s) for s in FINAL_STATUSES} else "open"


def _public(label) -> str:
    return label.public[0] if label.public else label.zh


def status_notes(action: str | None, to_status: str | None) -> str | None:
    """The public note of the ticket's last change of status, in zh-CN labels (the same words residents read
    on /track): "立案 · 已立案", "已受理 · 待处理". Staff notes are never used: they may name people."""
    if to_status is None:
        return None
    status = STATUS_LABELS.get(to_status)
    if status is None:
        return None
    act = ACTION_LABELS.get(action) if action else None
    if act is None or _public(act) == _public(status):  # 不予立案 · 不予立案 says it once
        return _public(status)
    return f"{_public(act)} · {_public(status)}"


def mask_text(text: str | None) -> str | None:
    """A description as it may leave the platform: mobile numbers as 138****5678, ID numbers as
    220102********123X."""
    if not text:
        return text
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)


def w3_datetime(value: datetime | None, zone: tzinfo) -> str | None:
    """RFC 3339 with the city's offset, to the second (the spec's w3 format)."""
    return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else None
