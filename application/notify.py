"""Notifications (issue 17): who is told what about a ticket event, and the plug-ins that tell them.

Pure decisions first — from one ticket event v1 (contract §3) and what the store knows (webhooks, the
reporters' contacts, the units' contacts) to the deliveries it causes:
- every webhook whose filters match (its `events`, empty: all; its `unit`: the ticket's lead or an assisting
  unit) gets the event itself, signed (`X-Yunguan-Signature: sha256=<hex HMAC-SHA256 of the body>`);
- the unit, at its configured contacts (`notify_unit_contacts`), when a ticket is dispatched (or reassigned)
  to it, warned (黄灯预警) or escalated (督办);
- the reporters who left a phone or an e-mail address, when their case is registered (立案), handled (处置)
  and closed (结案) — the texts are zh-CN templates, replaceable by a TOML file (`notify_templates`).

Then the plug-ins (`Sender`): webhook (HTTP POST), e-mail (SMTP with smtplib) and SMS (a gateway: by
default a JSON-lines file under state_dir, or an HTTP gateway by configuration). Each returns an `Outcome`;
none raises for a receiver's failure. Addresses are personal data: they are used to send and appear
elsewhere only through `mask_address` (errors are masked with `mask_text` before they are stored).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from dispatch.vocabulary import STATUS_LABELS

SIGNATURE_HEADER = "X-Yunguan-Signature"
CHANNELS = ("webhook", "email", "sms")

# Event names (ticket event v1 `event`) by what they mean to a unit and to a reporter.
UNIT_EVENTS = {"dispatch": "dispatched", "reassign": "dispatched", "warn": "warned", "escalate": "escalated"}
REPORTER_EVENTS = {"register": "registered", "handle": "handled", "close": "closed"}
# An opening that registers at once (created straight into these statuses) is the reporter's 立案 too.
REGISTERED_AT_OPENING = ("registered", "dispatched")

TEMPLATES: Mapping[str, str] = {
    "unit.dispatched.subject": "【云管】新派遣案件 {ticket_no}",
    "unit.dispatched": "【云管】案件 {ticket_no} 已派遣至{unit}，请及时签收处置，处置时限 {deadline}。",
    "unit.warned.subject": "【云管】案件 {ticket_no} 即将超期",
    "unit.warned": "【云管】案件 {ticket_no} 即将到期（时限 {deadline}），请{unit}抓紧处置。",
    "unit.escalated.subject": "【云管】案件 {ticket_no} 已超期督办",
    "unit.escalated": "【云管】案件 {ticket_no} 已超期，已升级督办（第 {level} 级），请{unit}立即处置。",
    "reporter.registered.subject": "【云管】您反映的问题已立案（{ticket_no}）",
    "reporter.registered": "【云管】您反映的问题已立案，案件编号 {ticket_no}，我们将尽快安排处置。可凭编号查询进度。",
    "reporter.handled.subject": "【云管】您反映的问题已处置（{ticket_no}）",
    "reporter.handled": "【云管】您反映的问题（案件编号 {ticket_no}）已由{unit}处置完毕，正在核查。",
    "reporter.closed.subject": "【云管】您反映的问题已结案（{ticket_no}）",
    "reporter.closed": "【云管】您反映的问题（案件编号 {ticket_no}）已办结，感谢您对城市管理的支持。",
}


class NotifyConfigError(ValueError):
    pass


def load_templates(path: str = "") -> dict[str, str]:
    """The built-in templates, with the keys of the TOML file `path` (if any) replacing them; a key that is not
    a template, or a template naming an unknown field, is refused (naming it)."""
    out = dict(TEMPLATES)
    if not path:
        return out
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NotifyConfigError(f"notify_templates {path}: {exc}") from None
    for key, value in data.items():
        if key not in TEMPLATES or not isinstance(value, str):
            raise NotifyConfigError(f"notify_templates {path}: {key!r} is not a template (known: "
                                    f"{', '.join(sorted(TEMPLATES))}) or not a string")
        try:
            value.format_map(_Fields(ticket_no="", unit="", deadline="", level="", status=""))
        except (KeyError, ValueError, IndexError) as exc:
            raise NotifyConfigError(f"notify_templates {path}: {key!r} uses an unknown field {exc}") from None
        out[key] = value
    return out


class _Fields(dict):
    def __missing__(self, key):
        raise KeyError(key)


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")


def address_channel(address: str) -> str | None:
    """'email' or 'sms' for a contact address; None for neither."""
    if _EMAIL.fullmatch(address):
        return "email"
    if _PHONE.fullmatch(address):
        return "sms"
    return None


def parse_unit_contacts(raw: str) -> dict[str, tuple[str, ...]]:
    """`notify_unit_contacts`: "CODE=addr|addr,CODE=addr" → {code: (addr, ...)}."""
    out: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        code, sep, addresses = part.partition("=")
        found = tuple(a.strip() for a in addresses.split("|") if a.strip())
        if not sep or not code.strip() or not found:
            raise NotifyConfigError(f"notify_unit_contacts: {part!r}; write CODE=address|address")
        for a in found:
            if address_channel(a) is None:
                raise NotifyConfigError(f"notify_unit_contacts: {mask_address(a)} is neither an e-mail address "
                                        "nor a phone number")
        out[code.strip()] = out.get(code.strip(), ()) + found
    return out


# --- masking -------------------------------------------------------------------------------------------------

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_DIGITS = re.compile(r"\d")
_EMAIL_IN_TEXT = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


def mask_address(address: str | None) -> str:
    """An address as lists show it: z***@example.cn, 139****4321 (the last four digits of other numbers)."""
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = "".join(_DIGITS.findall(address))
    if len(digits) >= 11:
        return f"{digits[-11:-8]}****{digits[-4:]}"
    return f"****{digits[-4:]}" if len(digits) > 4 else "****"


def mask_text(text: str | None) -> str | None:
    """Free text (a receiver's error) with e-mail addresses and mobile numbers masked."""
    if not text:
        return text
    text = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def display_url(url: str) -> str:
    """A hook's URL as lists show it: without user info, query or fragment (where a receiver's token may sit)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def address_key(channel: str, address: str) -> str:
    """The idempotency key of a personal target: its channel and the SHA-256 of its normalised address (the
    key names no one)."""
    normal = address.strip().lower() if channel == "email" else "".join(_DIGITS.findall(address))
    return f"{channel}:{hashlib.sha256(normal.encode()).hexdigest()[:32]}"


# --- decisions -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hook:
    id: int
    url: str
    secret: str
    events: tuple[str, ...] = ()
    unit_code: str | None = None


@dataclass(frozen=True)
class Planned:
    """One delivery to queue: where, what, and its idempotency key within the event."""

    channel: str  # webhook | email | sms
    target_key: str
    target: str  # what lists show: the hook's URL, or the masked address
    body: str
    subject: str | None = None
    address: str | None = None  # the e-mail address or phone number (personal data: to send only)
    hook_id: int | None = None


def event_key(event: Mapping) -> str:
    """One ticket event's identity: consumers of tickets.events de-duplicate on (ticket_no, version)."""
    return f"{event['ticket_no']}@{event['version']}:{event['event']}"


def hook_matches(hook: Hook, event: Mapping) -> bool:
    if hook.events and event.get("event") not in hook.events:
        return False
    if hook.unit_code:
        lead = (event.get("assignee") or {}).get("code")
        return hook.unit_code == lead or hook.unit_code in (event.get("assists") or ())
    return True


def unit_notice(event: Mapping) -> str | None:
    """'dispatched', 'warned' or 'escalated' when this event is one the ticket's unit is told of."""
    name = event.get("event")
    if name == "created" and event.get("status") == "dispatched":
        return "dispatched"
    return UNIT_EVENTS.get(name) if (event.get("assignee") or {}).get("code") else None


def reporter_notice(event: Mapping) -> str | None:
    """'registered', 'handled' or 'closed' when the reporters are told of this event."""
    name = event.get("event")
    if name == "created":
        return "registered" if event.get("status") in REGISTERED_AT_OPENING else None
    return REPORTER_EVENTS.get(name)


def render(templates: Mapping[str, str], key: str, event: Mapping, zone: ZoneInfo) -> tuple[str, str]:
    """(subject, text) of template `key` for this event, in the city's time."""
    deadline = "—"
    if event.get("deadline"):
        deadline = datetime.fromisoformat(event["deadline"]).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    status = event.get("status")
    label = STATUS_LABELS.get(status)
    fields = _Fields(ticket_no=event.get("ticket_no", ""), unit=(event.get("assignee") or {}).get("name") or "责任单位",
                     deadline=deadline, level=event.get("escalation_level") or 0,
                     status=label.zh if label else (status or ""))
    return templates[f"{key}.subject"].format_map(fields), templates[key].format_map(fields)


def plan(event: Mapping, *, hooks: list[Hook], reporters: list[str], unit_contacts: Mapping[str, tuple[str, ...]],
         templates: Mapping[str, str], zone: ZoneInfo, channels: frozenset[str] = frozenset(CHANNELS),
         body: str | None = None) -> list[Planned]:
    """Every delivery one ticket event causes. `reporters`: the contact addresses left with the ticket's
    reports; `channels`: the channels that can send (no e-mail without an SMTP host); `body`: the event as it
    came (a webhook receives those bytes)."""
    out: list[Planned] = []
    raw = body if body is not None else json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if "webhook" in channels:
        out += [Planned("webhook", f"hook:{h.id}", display_url(h.url), raw, hook_id=h.id)
                for h in hooks if hook_matches(h, event)]
    told: list[tuple[str, str]] = []
    kind = unit_notice(event)
    if kind:
        told += [(f"unit.{kind}", a) for a in unit_contacts.get((event.get("assignee") or {}).get("code"), ())]
    kind = reporter_notice(event)
    if kind:
        told += [(f"reporter.{kind}", a) for a in reporters]
    seen: set[str] = set()
    for key, address in told:
        channel = address_channel(address)
        if channel is None or channel not in channels:
            continue
        tkey = address_key(channel, address)
        if tkey in seen:
            continue
        seen.add(tkey)
        subject, text = render(templates, key, event, zone)
        out.append(Planned(channel, tkey, mask_address(address), text, subject if channel == "email" else None,
                           address))
    return out


def backoff(attempts: int, base_s: float, cap_s: float) -> timedelta:
    """The wait after the `attempts`-th failed try: base × 2^(attempts−1), at most `cap_s`."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def sign(secret: str, body: bytes) -> str:
    """The value of X-Yunguan-Signature: sha256=<hex HMAC-SHA256 of the body with the hook's secret>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# --- plug-ins ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """A claimed delivery as the senders see it."""

    id: int
    channel: str
    body: str
    subject: str | None = None
    address: str | None = None
    url: str | None = None
    secret: str | None = None
    event: str = ""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0


class Sender(Protocol):
    def send(self, message: Message) -> Outcome: ...


def _timed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


@dataclass
class WebhookSender:
    timeout_s: float = 10.0

    def send(self, message: Message) -> Outcome:
        started = time.perf_counter()
        if not message.url or message.secret is None:
            return Outcome(False, None, "the webhook was removed")
        data = message.body.encode("utf-8")
        request = urllib.request.Request(message.url, data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "yunguan-webhooks/1",
            SIGNATURE_HEADER: sign(message.secret, data), "X-Yunguan-Event": message.event,
            "X-Yunguan-Delivery": str(message.id)})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - http(s) only
                return Outcome(True, response.status, None, _timed(started))
        except urllib.error.HTTPError as exc:
            return Outcome(False, exc.code, f"HTTP {exc.code} {exc.reason}", _timed(started))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Outcome(False, None, f"{type(exc).__name__}: {reason}", _timed(started))


@dataclass
class EmailSender:
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "yunguan@localhost"
    starttls: bool = False
    timeout_s: float = 10.0

    def send(self, message: Message) -> Outcome:
        started = time.perf_counter()
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address or ""
        mail["Subject"] = message.subject or "云管通知"
        mail["Message-ID"] = make_msgid(idstring=f"delivery{message.id}")
        mail.set_content(message.body, charset="utf-8")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
            return Outcome(True, 250, None, _timed(started))
        except smtplib.SMTPResponseException as exc:
            return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {_decoded(exc.smtp_error)}", _timed(started))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            return Outcome(False, codes[0] if codes else None, "SMTP: recipient refused", _timed(started))
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}", _timed(started))


def _decoded(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class FileSmsGateway:
    """The default SMS gateway: one JSON line per message in `path` (for a demo, or a site whose SMS
    platform picks up files)."""

    path: Path

    def send(self, message: Message) -> Outcome:
        started = time.perf_counter()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"id": message.id, "to": message.address, "text": message.body}, ensure_ascii=False)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
            return Outcome(True, None, None, _timed(started))
        except OSError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc.strerror}", _timed(started))


@dataclass
class HttpSmsGateway:
    """An SMS platform's HTTP interface: POST {"to", "text", "id"} as JSON, a 2xx is delivered."""

    url: str
    token: str = ""
    timeout_s: float = 10.0

    def send(self, message: Message) -> Outcome:
        started = time.perf_counter()
        data = json.dumps({"id": message.id, "to": message.address, "text": message.body},
                          ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            request = urllib.request.Request(self.url, data=data, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return Outcome(True, response.status, None, _timed(started))
        except urllib.error.HTTPError as exc:
            return Outcome(False, exc.code, f"HTTP {exc.code} {exc.reason}", _timed(started))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", _timed(started))


@dataclass
class Notifier:
    """The plug-ins by channel, built from the settings (`from_settings`)."""

    senders: dict[str, Sender] = field(default_factory=dict)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self.senders)

    def send(self, message: Message) -> Outcome:
        sender = self.senders.get(message.channel)
        if sender is None:
            return Outcome(False, None, f"no {message.channel} sender is configured")
        return sender.send(message)

    @classmethod
    def from_settings(cls, settings) -> Notifier:
        senders: dict[str, Sender] = {"webhook": WebhookSender(settings.notify_timeout_s)}
        if settings.smtp_host:
            senders["email"] = EmailSender(settings.smtp_host, settings.smtp_port, settings.smtp_user,
                                           settings.smtp_password, settings.smtp_from, settings.smtp_starttls,
                                           settings.notify_timeout_s)
        if settings.sms_gateway_url:
            senders["sms"] = HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token,
                                            settings.notify_timeout_s)
        else:
            senders["sms"] = FileSmsGateway(settings.state_path / "sms" / "outbox.jsonl")
        return cls(senders)
