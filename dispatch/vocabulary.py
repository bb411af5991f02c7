"""The platform's vocabulary, written once: roles, channels, statuses, actions, their labels, the 小类 code rule
and the transition table, as the server uses them and as the browser receives them.

Every Python user imports these names (the web's role checks, the topics, the envelope's channel type, the
account rules, SQL that needs the open statuses as a bound parameter); `document()` hands the same data to
the pages as one JSON document (web/assets.py puts it in every page's boot document, frontend/src/shared/
vocabulary.ts reads it), so no script keeps
its own copy of a status label or of the 值班长's buttons. Labels are zh-CN first, English second; where
residents are told something in other words (a returned ticket is "being re-dispatched" to them), the label
carries a `public` variant. Migrations are history and keep their literal lists; each says which constant
here it mirrors. docs/decisions/0016 ("Vocabulary") records the choices.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dispatch.actors import Party, Role
from dispatch.model import FINAL_STATUSES, OPEN_STATUSES, Status
from dispatch.taxonomy import LEVEL_DIGITS, SUBCLASS_DIGITS, is_subclass_code
from dispatch.transitions import PREVIOUS, TRANSITIONS, WITH_UNIT, Action, HistoryAction

SCHEMA = "vocabulary/1"


@dataclass(frozen=True)
class Label:
    """A name shown to people: Chinese first, English second. `done` is the English of a history line
    ("Registered") where it differs from the verb on a button ("Register"); Chinese needs no second form."""

    zh: str
    en: str
    done: str | None = None
    public: tuple[str, str] | None = None  # (zh, en) shown to residents on /track, when it differs

    def as_json(self) -> dict:
        out = {"zh": self.zh, "en": self.en}
        if self.done is not None:
            out["done"] = self.done
        if self.public is not None:
            out["public"] = {"zh": self.public[0], "en": self.public[1]}
        return out


# --- Roles ---------------------------------------------------------------------------------------------------
# Account roles (contract §1): every Role but `system`, which is the worker's and the deadline pass's.
ACCOUNT_ROLES: tuple[str, ...] = tuple(str(r) for r in Role if r is not Role.SYSTEM)
# Staff: every account role (residents have no account). A page or API call "for staff" accepts these.
STAFF_ROLES: tuple[str, ...] = ACCOUNT_ROLES
# Roles that see every ticket: the command centre's console, Socket.IO room `all`, scope "everything".
CITY_WIDE_ROLES: tuple[str, ...] = tuple(str(r) for r in (Role.ADMIN, Role.OPERATOR, Role.HOTLINE))

# Each account role's own page: where a login lands, and where a page of another role sends it instead of a
# bare "forbidden" (web/pages.py). A role opens its own page only; /report and /track are everyone's.
HOME_PAGE: Mapping[str, str] = MappingProxyType({
    Role.ADMIN: "/console",
    Role.OPERATOR: "/console",
    Role.HOTLINE: "/console",
    Role.DEPARTMENT: "/unit",
    Role.GRID: "/grid",
})

ROLE_LABELS: Mapping[str, Label] = MappingProxyType({
    Role.ADMIN: Label("管理员", "Administrator"),
    Role.OPERATOR: Label("指挥中心", "Command centre"),
    Role.DEPARTMENT: Label("处置单位", "Department"),
    Role.GRID: Label("网格员", "Grid worker"),
    Role.HOTLINE: Label("12345热线", "12345 hotline"),
    Role.SYSTEM: Label("系统", "System"),
})

PARTY_LABELS: Mapping[str, Label] = MappingProxyType({
    Party.ADMIN: Label("管理员", "Administrator"),
    Party.OPERATOR: Label("受理员", "Operator"),
    Party.SUPERVISOR: Label("值班长", "Supervisor"),
    Party.LEAD: Label("主办单位", "Lead unit"),
    Party.ASSIST: Label("协办单位", "Assisting unit"),
    Party.GRID: Label("网格员", "Grid worker"),
    Party.HOTLINE: Label("12345热线", "12345 hotline"),
    Party.SYSTEM: Label("系统", "System"),
})

# --- Intake channels -----------------------------------------------------------------------------------------
# The channel list (contract §3): topics `reports.<channel>`, the envelope's `channel`, the reports table's
# CHECK (migration 0001 mirrors it). Adding a channel means adding it here and to the publishers below.
CHANNELS: tuple[str, ...] = ("grid", "hotline", "public", "sensor")
# Who may publish on each channel over HTTP; None: anyone, no account (residents, rate-limited).
CHANNEL_PUBLISHERS: Mapping[str, tuple[str, ...] | None] = MappingProxyType({
    "public": None,
    "grid": ("grid", "admin"),
    "hotline": ("hotline", "operator", "admin"),
    "sensor": ("admin",),
})
CHANNEL_LABELS: Mapping[str, Label] = MappingProxyType({
    "grid": Label("网格员", "Grid worker"),
    "hotline": Label("12345热线", "12345 hotline"),
    "public": Label("市民", "Resident"),
    "sensor": Label("传感器", "Sensor"),
})

# --- Statuses ------------------------------------------------------------------------------------------------
# In the enum's order (the loop's order), so lists built from it are stable (SQL parameters, the pages' filters).
OPEN_STATUS_LIST: tuple[str, ...] = tuple(str(s) for s in Status if s in OPEN_STATUSES)
# The statuses in which a unit holds a ticket (its clock runs or is suspended): the deadline pass reads these.
WITH_UNIT_STATUSES: tuple[str, ...] = tuple(str(s) for s in WITH_UNIT)
# A department's workbench lists what its unit holds and what it handled until that is verified.
UNIT_QUEUE_STATUSES: tuple[str, ...] = (*WITH_UNIT_STATUSES, str(Status.HANDLED))

STATUS_LABELS: Mapping[str, Label] = MappingProxyType({
    Status.PENDING: Label("待处理", "Pending"),
    Status.REGISTERED: Label("已立案", "Registered"),
    Status.DISPATCHED: Label("已派遣", "Dispatched"),
    Status.ACKNOWLEDGED: Label("已签收", "Acknowledged"),
    Status.HANDLED: Label("已处置", "Handled"),
    Status.VERIFIED: Label("已核查", "Verified"),
    Status.CLOSED: Label("已结案", "Closed"),
    Status.RETURNED: Label("已退回", "Returned", public=("重新派遣中", "Being re-dispatched")),
    Status.REJECTED: Label("不予立案", "Rejected", public=("不予立案", "Not registered")),
    Status.SUSPENDED: Label("延期/挂账", "Suspended", public=("延期办理", "Extended")),
    Status.REOPENED: Label("返工", "Reopened"),
})

# --- Actions -------------------------------------------------------------------------------------------------
# History lines that are not commands anyone sends: a ticket's opening and a report merged into it.
HISTORY_ONLY_ACTIONS: tuple[str, ...] = tuple(str(a) for a in HistoryAction)

ACTION_LABELS: Mapping[str, Label] = MappingProxyType({
    HistoryAction.CREATE: Label("创建", "Create", "Created", public=("已受理", "Received")),
    Action.PREREGISTER: Label("受理", "Accept", "Accepted", public=("已受理", "Accepted")),
    Action.REGISTER: Label("立案", "Register", "Registered"),
    Action.REJECT: Label("不予立案", "Reject", "Rejected", public=("不予立案", "Not registered")),
    Action.DISPATCH: Label("派遣", "Dispatch", "Dispatched"),
    Action.ACKNOWLEDGE: Label("签收", "Acknowledge", "Acknowledged"),
    Action.RETURN: Label("退回", "Return", "Returned"),
    Action.HANDLE: Label("处置反馈", "Report handled", "Handled", public=("处置", "Handled")),
    Action.VERIFY: Label("核查通过", "Pass verification", "Verified"),
    Action.FAIL_VERIFY: Label("核查不通过", "Fail verification", "Verification failed",
                              public=("核查未通过", "Verification failed")),
    Action.CLOSE: Label("结案", "Close", "Closed"),
    Action.ESCALATE: Label("督办", "Escalate", "Escalated"),
    Action.REQUEST_EXTENSION: Label("申请延期", "Request extension", "Extension requested"),
    Action.APPROVE_EXTENSION: Label("批准延期", "Approve extension", "Extension approved"),
    Action.DENY_EXTENSION: Label("不批准延期", "Deny extension", "Extension denied"),
    Action.RESUME: Label("恢复办理", "Resume", "Resumed"),
    Action.REASSIGN: Label("改派", "Reassign", "Reassigned"),
    Action.ADD_ASSIST: Label("增加协办", "Add assisting unit", "Assisting unit added",
                             public=("协同处置", "Joint handling")),
    Action.COMMENT: Label("备注", "Comment", "Commented"),
    Action.WARN: Label("预警", "Warn", "Warning"),
    Action.SPLIT: Label("拆分", "Split", "Split"),
    HistoryAction.MERGE: Label("合并", "Merge", "Merged"),
    Action.CONFIRM_AREA: Label("确认属地", "Confirm area", "Area confirmed"),
    Action.LOCATE: Label("定位", "Locate", "Located"),
    Action.MERGE_INTO: Label("合并", "Merge into", "Merged into", public=("已合并办理", "Merged with another case")),
})

# The deadline light of a ticket (tickets.deadline_state), set by the deadline pass.
DEADLINE_LABELS: Mapping[str, Label] = MappingProxyType({
    "green": Label("正常", "On time"),
    "yellow": Label("临期", "Due soon"),
    "red": Label("超时", "Overdue"),
})

__all__ = [
    "ACCOUNT_ROLES", "ACTION_LABELS", "CHANNELS", "CHANNEL_LABELS", "CHANNEL_PUBLISHERS", "CITY_WIDE_ROLES",
    "DEADLINE_LABELS", "FINAL_STATUSES", "HISTORY_ONLY_ACTIONS", "HOME_PAGE", "LEVEL_DIGITS", "OPEN_STATUSES",
    "OPEN_STATUS_LIST", "PARTY_LABELS", "ROLE_LABELS", "STAFF_ROLES", "STATUS_LABELS", "SUBCLASS_DIGITS",
    "UNIT_QUEUE_STATUSES", "WITH_UNIT_STATUSES", "document", "is_subclass_code",
]


def _transition_rows() -> list[dict]:
    """The table as data: `to` is a status, or "previous" for the row that ends a suspension."""
    return [
        {"from": str(t.source), "action": str(t.action),
         "to": "previous" if t.target is PREVIOUS else str(t.target),
         "parties": sorted(str(p) for p in t.parties)}
        for t in TRANSITIONS
    ]


def document() -> dict:
    """The vocabulary as one JSON-ready document (schema "vocabulary/1"); lists keep the domain's order.
    A new dict each call: callers may cache its serialisation (web/pages.py does)."""
    return {
        "schema": SCHEMA,
        "roles": [{"code": str(r), **ROLE_LABELS[r].as_json(), "account": str(r) in ACCOUNT_ROLES,
                   "staff": str(r) in STAFF_ROLES, "city_wide": str(r) in CITY_WIDE_ROLES,
                   "home": HOME_PAGE.get(r)} for r in Role],
        "parties": [{"code": str(p), **PARTY_LABELS[p].as_json()} for p in Party],
        "channels": [{"code": c, **CHANNEL_LABELS[c].as_json(),
                      "publishers": None if CHANNEL_PUBLISHERS[c] is None else list(CHANNEL_PUBLISHERS[c])}
                     for c in CHANNELS],
        "statuses": [{"code": str(s), **STATUS_LABELS[s].as_json(), "open": s in OPEN_STATUSES} for s in Status],
        "open_statuses": list(OPEN_STATUS_LIST),
        "final_statuses": [str(s) for s in FINAL_STATUSES],
        "with_unit_statuses": list(WITH_UNIT_STATUSES),
        "unit_queue_statuses": list(UNIT_QUEUE_STATUSES),
        "actions": [{"code": str(a), **ACTION_LABELS[a].as_json(), "command": a not in HISTORY_ONLY_ACTIONS}
                    for a in ACTION_LABELS],
        "deadline_states": [{"code": k, **v.as_json()} for k, v in DEADLINE_LABELS.items()],
        "category_code": {"level_digits": dict(LEVEL_DIGITS), "subclass_digits": SUBCLASS_DIGITS},
        "transitions": _transition_rows(),
    }
