"""`yunguan simulate --history DAYS`: days of past traffic that run the whole closed loop as of past instants.

Nothing here writes a ticket, a history entry, a report or an event itself. Reports (yunguan.simulate's mix of
channels, categories and places) arrive with a daily and a weekly rhythm and are opened by the worker's own
`application.ingest.ingest`, a batch every few minutes as of the batch's instant; every later change is a
person's command through `application.act.act_in` (定位 through `application.locate.locate_in`) with that
moment as `now`, decided by the domain like a click in a console; the deadline pass
(`application.escalate.escalation_run`) runs each minute, as the worker runs it, for the tickets whose
clocks reach a step in that minute (`next_step`: the yellow share, the next rung, the end of an extension), so
warnings, escalations and resumptions happen as they would have; a pass over every ticket at the end finds
nothing left over (the test checks it). History chains, tickets, reports, evaluation facts and outbox events are therefore those live
traffic would have left (the outbox's rows are relayed once a worker runs).

The people behave as a city's do, seeded: the 受理员 places and classifies pending reports and the 值班长
registers and dispatches them; departments acknowledge (mostly on time, some late), sometimes return a ticket
(an operator re-dispatches it; a second return is the 值班长's arbitration, upheld or not), ask for extensions
(approved or denied), handle with a note, mostly in time, some late; grid workers verify or fail the
verification (返工); the 值班长 closes. Department work runs in the ticket's own time rule (working hours on
the Chinese calendar, natural time for urgent tickets), so it happens in office hours. Whatever falls after the
end stays undone: the last days' tickets are still open.

Deterministic for a seed and an end instant (on a database without tickets): one random generator drives
every choice, in event order. The steps between two deadline passes share one transaction (on connections
with `synchronous_commit` off); a simulation that fails half-way leaves the days before the failure written.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from application.act import act_in
from application.envelope import validate_envelope
from application.escalate import escalation_run
from application.ingest import Received, ingest
from application.locate import locate_in
from application.routing import RoutingCache, RoutingContext
from dispatch.actors import Actor, Role
from dispatch.deadlines import planned_end, rule_for
from dispatch.errors import DispatchError, StaleVersion
from dispatch.escalation import EscalationPolicy, first_rung
from dispatch.intake import classified
from dispatch.lifecycle import MAX_ESCALATION_LEVEL, ClockKind, Command, TicketState
from dispatch.model import Status
from dispatch.transitions import WORKING
from dispatch.worktime import NaturalTime, Span, TimeRule, WorkingTime
from gis.areas import city_today
from store.areas import load_areas
from store.db import make_engine
from store.duties import load_units
from store.loop import LoopContext, created_between, load, load_context, with_unit
from store.timeline import latest_change, placement, status_counts
from yunguan.simulate import CATEGORY_MIX, Simulator

log = logging.getLogger(__name__)

# Reports per hour of the day (city time), relative: the morning is busiest, the night quiet.
HOURLY = (0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.6, 4.0, 4.6, 4.2, 3.0, 2.0, 2.6, 3.1, 3.3, 3.0, 2.5,
          1.8, 1.4, 1.2, 0.9, 0.6, 0.3)
REST_DAY_SHARE = 0.6  # weekends and holidays: fewer reports


@dataclass(frozen=True)
class Behaviour:
    """How people behave: shares of turns, tickets or requests."""

    late_ack: float = 0.12
    late_handle: float = 0.2
    returns: float = 0.06  # a unit sends a fresh dispatch back
    return_again: float = 0.35  # … and again after the re-dispatch: the 值班长 arbitrates
    redispatch_elsewhere: float = 0.7  # the operator finds a first return justified: another unit
    upheld: float = 0.5  # the 值班长 upholds a second return
    extension: float = 0.08
    approved: float = 0.75
    fail_verify: float = 0.12
    fail_again: float = 0.05
    reject_pending: float = 0.08
    follow_up: float = 0.15  # a 12345 call-taker's 回访 after closing


HANDLE_NOTES = {
    "01": "已修复/更换，设施恢复正常", "0201": "已清理完毕，现场整洁", "0202": "已清理并恢复绿化",
    "0203": "已责令整改，现场已停工或覆盖", "0204": "已抢修完毕，恢复正常", "0205": "已劝离，恢复通行秩序",
    "0206": "已立案查处，责令限期拆除",
}
OPERATOR = Actor("operator", Role.OPERATOR)
DUTY = Actor("duty", Role.OPERATOR, supervisor=True)  # 值班长
HOTLINE = Actor("hotline", Role.HOTLINE)


@dataclass(frozen=True)
class HistoryRun:
    days: int
    seed: int
    per_day: int = 150
    end: datetime | None = None  # default: now
    ingest_every: timedelta = timedelta(minutes=15)
    pass_every: timedelta = timedelta(minutes=1)  # the deadline pass, as the worker's: for the tickets due by then
    behaviour: Behaviour = Behaviour()


@dataclass
class HistoryResult:
    start: datetime
    end: datetime
    reports: int = 0
    tickets: list[str] = field(default_factory=list)
    actions: Counter = field(default_factory=Counter)
    passes: int = 0
    pass_changes: int = 0
    refused: Counter = field(default_factory=Counter)  # commands the domain refused (should stay empty)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        acts = sum(self.actions.values())
        return (f"simulate --history: {self.reports} reports → {len(self.tickets)} tickets from "
                f"{self.start.isoformat(timespec='minutes')} to {self.end.isoformat(timespec='minutes')}; "
                f"{acts} actions, {self.passes} deadline passes ({self.pass_changes} warnings/escalations/resumes)"
                f", {sum(self.refused.values())} refused; in {self.seconds:.1f} s; statuses "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())))


class HistoryRefused(ValueError):
    """Nothing was written: the database has ticket history later than the simulated start (history must
    come first), or no areas or categories to simulate with."""


def simulate_history(engine: Engine, settings, topics, run: HistoryRun, say: Callable[[str], None] | None = None
                     ) -> HistoryResult:
    """Write `run.days` days of past traffic ending at `run.end` (see the module docstring)."""
    end = (run.end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=run.days)
    working = WorkingTime.from_settings(settings)
    with engine.connect() as conn:
        latest = latest_change(conn)
        if latest is not None and latest >= start:
            raise HistoryRefused(f"tickets have history up to {latest.isoformat()}, after the simulated start "
                                f"{start.isoformat()}: simulated history must come before every ticket")
        loop = load_context(conn, working, topics.ticket_events)
        units = load_units(conn)
    cache = RoutingCache.from_settings(engine, settings)
    try:
        routing = cache.reload()
    finally:
        cache.close()
    areas = load_areas(engine, city_today(settings.timezone, end))
    if not areas or not loop.taxonomy.categories:
        raise HistoryRefused("no areas or no categories loaded: run `yunguan demo --data-only` (or load a city's "
                             "areas, duties and categories) first")
    # Its own connections, without waiting for the disk at each commit (the deadline pass commits once per
    # slot) nor a ping at each checkout: a crash loses the last steps, never consistency. Every statement is
    # planned for the tables as they are now: a generic plan cached while `tickets` had 80 rows kept scanning
    # it whole (merge join, 5 ms a write) while the simulation grew it to thousands, faster than autovacuum's
    # ANALYZE invalidated the plan.
    fast = make_engine(engine.url.render_as_string(hide_password=False), pool_pre_ping=False,
                       connect_args={"options": "-c synchronous_commit=off -c plan_cache_mode=force_custom_plan"})
    try:
        return _History(fast, settings, topics, run, loop, routing, units, areas, start, end, say).run()
    finally:
        fast.dispose()


class _Stale(Exception):
    """The ticket changed since this simulation saw it; the step is decided again."""


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # "ingest", "pass" or a step of a ticket
    ticket_no: str | None = field(compare=False, default=None)
    payload: object = field(compare=False, default=None)


class _History:
    def __init__(self, engine: Engine, settings, topics, run: HistoryRun, loop: LoopContext,
                 routing: RoutingContext, units, areas, start: datetime, end: datetime, say) -> None:
        self.engine, self.settings, self.topics, self.run_, self.loop, self.routing = (
            engine, settings, topics, run, loop, routing)
        self.start, self.end, self.say = start, end, say
        self.rng = random.Random(run.seed)
        self.b = run.behaviour
        self.tz = ZoneInfo(settings.timezone)
        self.reporter = Simulator(areas, seed=run.seed)
        self.district_units: dict[str, list[str]] = {}
        for u in units:
            if u.level == "district" and u.kind != "command_centre" and u.area_code:
                self.district_units.setdefault(u.area_code, []).append(u.code)
        self.queue: list[_Event] = []
        self.seq = itertools.count()
        self.points: dict[str, tuple[float, float]] = {}  # report id → where it really was (address-only reports)
        self.result = HistoryResult(start, end)
        self.now = start
        self.conn: Connection | None = None
        self.states: dict[str, TicketState] = {}  # each ticket as last saved here
        self.slots: dict[datetime, set[str]] = {}  # deadline-pass instants → the tickets due by then
        self.policy = EscalationPolicy()

    # ------------------------------------------------------------------ the clock and the queue
    def at(self, when: datetime, kind: str, ticket_no: str | None = None, payload=None) -> None:
        """Schedule; never at or before the simulated present (a ticket's entries stay in order)."""
        when = max(when, self.now + timedelta(seconds=1 + self.rng.random() * 30))
        heapq.heappush(self.queue, _Event(when, next(self.seq), kind, ticket_no, payload))

    def run(self) -> HistoryResult:
        started = time.monotonic()
        self._plan_reports()
        with self.engine.connect() as conn:
            self.conn = conn
            day = None
            while self.queue and self.queue[0].at < self.end:
                event = heapq.heappop(self.queue)
                self.now = event.at
                if self.say is not None and event.at.astimezone(self.tz).date() != day:
                    day = event.at.astimezone(self.tz).date()
                    self.say(f"history: {day} ({len(self.result.tickets)} tickets so far)")
                if event.kind == "pass":
                    conn.commit()  # the pass reads what happened before it, in its own transaction
                    self._pass(event.at, sorted(self.slots.pop(event.at)))
                elif event.kind == "ingest":
                    self._ingest(event.payload, event.at)
                else:
                    self._step(event)
            conn.commit()
            self.result.statuses = status_counts(conn, self.result.tickets)
        self.result.seconds = time.monotonic() - started
        return self.result

    # ------------------------------------------------------------------ intake
    def _plan_reports(self) -> None:
        """Every report of the period, with its time; then one ingest batch per `ingest_every` that has any."""
        day = self.start.astimezone(self.tz).date()
        last = self.end.astimezone(self.tz).date()
        stamps: list[datetime] = []
        while day <= last:
            share = 1.0 if self.loop.working.is_workday(day) else REST_DAY_SHARE
            count = round(self.run_.per_day * share * self.rng.uniform(0.9, 1.1))
            midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
            for hour in self.rng.choices(range(24), HOURLY, k=count):
                at = (midnight + timedelta(hours=hour, seconds=self.rng.random() * 3600)).astimezone(UTC)
                if self.start <= at < self.end - timedelta(minutes=2):
                    stamps.append(at)
            day += timedelta(days=1)
        stamps.sort()
        window = self.run_.ingest_every
        batches: dict[int, list[datetime]] = {}
        for at in stamps:
            batches.setdefault(int((at - self.start) / window), []).append(at)
        n = 0
        for _, times in sorted(batches.items()):
            envelopes = []
            for at in times:
                n += 1
                envelopes.append(self._report(at, n))
            self.at(times[-1] + timedelta(seconds=2 + self.rng.random() * 40), "ingest", payload=envelopes)

    def _report(self, at: datetime, n: int) -> dict:
        envelope = self.reporter.report(at)
        envelope["report_id"] = f"hist-{self.run_.seed}-{at.astimezone(self.tz):%Y%m%d}-{n:06d}"
        if envelope["location"] is None:  # an address-only call: the operator will place it where it was
            self.points[envelope["report_id"]] = self._inside()
        return envelope

    def _ingest(self, envelopes: list[dict], at: datetime) -> None:
        received = [Received(validate_envelope(e, at), self.topics.report(e["channel"]), 0, 0) for e in envelopes]
        created = ingest(self.conn, received, self.routing, now=at, timezone=self.settings.timezone,
                         ticket_prefix=self.settings.ticket_prefix, events_topic=self.topics.ticket_events,
                         loop=self.loop)
        self.result.reports += len(envelopes)
        self.result.tickets += created
        opened = {s.ticket_no: s for s in created_between(self.conn, at, at + timedelta(microseconds=1))}
        for no in created:  # in the order of their numbers
            state = self.states[no] = opened[no]
            if state.status is Status.DISPATCHED:
                self._watch(no, state)
                self._plan_turn(no, state)
            else:
                self.at(at + self._minutes(3, 60), "triage", no)

    # ------------------------------------------------------------------ the deadline pass
    def _pass(self, at: datetime, tickets: list[str]) -> None:
        """The deadline pass as of `at`, over the tickets whose clocks reached a step by then (the pass
        decides what that means, as live); then when each of them needs it next."""
        result = escalation_run(self.engine, lambda _conn: self.loop, at, only=tickets)
        self.result.passes += 1
        self.result.pass_changes += len(result.applied)
        changed = sorted({a["ticket_no"] for a in result.applied} | {no for no in tickets if no not in self.states})
        for no in changed:
            self.states.pop(no, None)
        for loaded, _ in with_unit(self.conn, changed) if changed else ():
            self.states[loaded.state.ticket_no] = loaded.state
        for no in tickets:
            if no in self.states:
                self._watch(no, self.states[no])

    def _watch(self, ticket_no: str, state: TicketState) -> None:
        """Book the next deadline pass this ticket needs: the first slot after its next step."""
        due = next_step(state, self.loop, self.policy, self.now)
        if due is None or due >= self.end:
            return
        slot = self.start + self.run_.pass_every * -(-(due - self.start) // self.run_.pass_every)
        if slot <= due:
            slot += self.run_.pass_every
        if slot not in self.slots:
            self.slots[slot] = set()
            heapq.heappush(self.queue, _Event(slot, next(self.seq), "pass"))
        self.slots[slot].add(ticket_no)

    # ------------------------------------------------------------------ people's steps
    def _step(self, event: _Event) -> None:
        """A person's step, decided on the ticket as this simulation last saw it; when something else changed
        it meanwhile (a merged report, the deadline pass), the domain answers StaleVersion before writing
        anything and the step is decided again on the ticket as it is."""
        handler = getattr(self, "_" + event.kind)
        state = self.states.get(event.ticket_no) or self._state(event.ticket_no)
        try:
            handler(event.ticket_no, state, event.at, event.payload)
        except _Stale:
            handler(event.ticket_no, self._state(event.ticket_no), event.at, event.payload)

    def _state(self, ticket_no: str) -> TicketState:
        loaded = load(self.conn, ticket_no)
        assert loaded is not None, ticket_no
        self.states[ticket_no] = loaded.state
        return loaded.state

    def _do(self, ticket_no: str, state: TicketState, actor: Actor, at: datetime, action: str, *,
            point: tuple[float, float, str] | None = None, **fields) -> TicketState | None:
        command = Command(action, state.version, **fields)
        try:
            if point is not None:  # 定位: placed and routed by the application, as over the API
                new = locate_in(self.conn, ticket_no, command, point, actor, at, self.loop, self.routing)
            else:
                new = act_in(self.conn, ticket_no, command, actor, at, self.loop)
        except StaleVersion:
            if self.states.pop(ticket_no, None) is None:
                raise
            raise _Stale() from None
        except DispatchError as exc:  # the plan met a state it did not expect: counted, never hidden
            self.result.refused[action] += 1
            log.debug("history: %s %s refused at %s: %s", action, ticket_no, at, exc)
            return None
        self.result.actions[action] += 1
        new = classified(new, self.loop.taxonomy.get(new.category))  # as saved: an urgent 小类 makes it urgent
        self.states[ticket_no] = new
        self._watch(ticket_no, new)
        return new

    def _triage(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        """受理员 and 值班长 at a pending ticket: reject a few, place address-only ones, classify, register."""
        if state.status is not Status.PENDING:
            return
        ticket = placement(self.conn, no)
        if self.rng.random() < self.b.reject_pending:
            self._do(no, state, DUTY, at, "reject", note="经核实为重复反映或不属于受理范围，不予立案")
            return
        if not ticket.located:
            point = self.points.get(ticket.report_id) or self._inside()
            if self._do(no, state, OPERATOR, at, "locate", note="按来电人描述定位", point=(*point, "wgs84")) is not None:
                self.at(at + self._minutes(2, 20), "triage", no)
            return
        category = None if state.category else self.rng.choices(
            [c for c, _ in CATEGORY_MIX if c], [w for c, w in CATEGORY_MIX if c])[0]
        if self._do(no, state, DUTY, at, "register", category=category) is not None:
            self.at(at + self._minutes(2, 20), "dispatch", no)

    def _dispatch(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        """派遣 of a registered ticket (the unit routing suggests), or a re-dispatch after a return: the
        operator's routine after the first, the 值班长's arbitration after the second (upheld: another unit)."""
        if state.status not in (Status.REGISTERED, Status.RETURNED):
            return
        ticket = placement(self.conn, no)
        district = ticket.district_code
        if state.status is Status.REGISTERED:
            unit = ticket.assignee_code or self._other_unit(district, None)
            if unit is None:
                self._do(no, state, DUTY, at, "reject", note="不属于本市管辖范围，不予立案")
                return
            new = self._do(no, state, DUTY, at, "dispatch", to_unit=unit, note="按权责清单派遣")
        else:
            returned_by = state.assignments[-1].unit
            arbitration = state.returns >= 2
            elsewhere = self.rng.random() < (self.b.upheld if arbitration else self.b.redispatch_elsewhere)
            unit = (self._other_unit(district, returned_by) if elsewhere else None) or returned_by
            if arbitration:
                note = ("值班长裁定：退回理由成立，改派" + unit) if unit != returned_by else \
                    "值班长裁定：退回理由不成立，由原单位办理"
                new = self._do(no, state, DUTY, at, "dispatch", to_unit=unit, note=note)
            else:
                note = "退回理由成立，重新派遣" if unit != returned_by else "经核实属该单位职责，请继续办理"
                new = self._do(no, state, OPERATOR, at, "dispatch", to_unit=unit, note=note)
        if new is not None:
            self._plan_turn(no, new)

    def _other_unit(self, district: str | None, not_this: str | None) -> str | None:
        choices = [u for u in self.district_units.get(district or "", ()) if u != not_this]
        if not choices:
            choices = [u for us in self.district_units.values() for u in us if u != not_this]
        return self.rng.choice(choices) if choices else None

    def _plan_turn(self, no: str, state: TicketState) -> None:
        """A unit got the ticket: it acknowledges (late sometimes), or sends it back."""
        turn = state.current
        if turn is None:
            return
        limits, rule = self._limits(state)
        may_return = not state.arbitrated and state.returns < 2
        if may_return and self.rng.random() < (self.b.return_again if state.returns else self.b.returns):
            self.at(rule.add(turn.dispatched_at, limits[0] * self.rng.uniform(0.2, 0.9)), "give_back", no)
            return
        share = self.rng.uniform(1.1, 3.0) if self.rng.random() < self.b.late_ack else self.rng.uniform(0.05, 0.9)
        self.at(rule.add(turn.dispatched_at, limits[0] * share), "acknowledge", no)

    def _give_back(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        if state.status not in (Status.DISPATCHED, Status.ACKNOWLEDGED):
            return
        if self._do(no, state, self._staff(state), at, "return",
                    note="经核实不属于本单位职责范围，请重新派遣") is not None:
            self.at(at + self._minutes(10, 90), "dispatch", no)

    def _acknowledge(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        if state.status is not Status.DISPATCHED:
            return
        new = self._do(no, state, self._staff(state), at, "acknowledge")
        if new is not None:
            self._plan_handling(no, new, at)

    def _plan_handling(self, no: str, state: TicketState, after: datetime, late: float | None = None) -> None:
        turn = state.current
        if turn is None:
            return
        limits, rule = self._limits(state)
        if late is None and not turn.rework and self.rng.random() < self.b.extension:
            when = rule.add(turn.clock_started, limits[1] * self.rng.uniform(0.4, 0.8))
            minutes = round(limits[1].total_seconds() / 60 * self.rng.uniform(0.5, 1.0))
            self.at(max(when, rule.add(after, self._minutes(5, 60))), "ask_extension", no, minutes)
            return
        if late is None:
            late = self.rng.uniform(1.05, 2.5) if self.rng.random() < self.b.late_handle else self.rng.uniform(0.15, 0.95)
        self.at(max(rule.add(turn.clock_started, limits[1] * late), rule.add(after, self._minutes(10, 60))),
                "handle", no)

    def _ask_extension(self, no: str, state: TicketState, at: datetime, minutes) -> None:
        if state.status not in (Status.ACKNOWLEDGED, Status.REOPENED):
            return
        if self._do(no, state, self._staff(state), at, "request_extension", minutes=minutes,
                    note="需协调相关单位或等待材料，申请延期") is not None:
            self.at(at + self._minutes(10, 120), "decide_extension", no)

    def _decide_extension(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        if state.extension_request is None:
            return
        if self.rng.random() < self.b.approved:
            new = self._do(no, state, DUTY, at, "approve_extension")
            if new is not None and new.open_pause is not None:
                _, rule = self._limits(new)
                minutes = new.open_pause.minutes or 480
                self.at(rule.add(at, timedelta(minutes=minutes * self.rng.uniform(0.3, 1.3))), "handle", no)
        else:
            new = self._do(no, state, DUTY, at, "deny_extension", note="理由不充分，请按期办结")
            if new is not None:
                self._plan_handling(no, new, at, late=self.rng.uniform(0.9, 1.6))

    def _handle(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        if state.status not in (Status.ACKNOWLEDGED, Status.REOPENED, Status.SUSPENDED):
            return
        note = next((v for k, v in sorted(HANDLE_NOTES.items(), key=lambda kv: -len(kv[0]))
                     if (state.category or "").startswith(k)), "已处置完毕")
        if self._do(no, state, self._staff(state), at, "handle", note=note) is not None:
            self.at(self._daytime(at + self._minutes(30, 18 * 60)), "check", no)

    def _check(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        """核查: the grid worker of the cell (an operator where the ticket has no cell)."""
        if state.status is not Status.HANDLED:
            return
        actor = Actor(f"gw-{state.grid}", Role.GRID, grid=state.grid) if state.grid else OPERATOR
        if self.rng.random() < (self.b.fail_again if state.reopen_count else self.b.fail_verify):
            new = self._do(no, state, actor, at, "fail_verify", note="现场复核未整改到位，需返工")
            if new is not None:
                self._plan_handling(no, new, at, late=self.rng.uniform(0.2, 0.9))
            return
        if self._do(no, state, actor, at, "verify", note="现场复核已整改到位") is not None:
            self.at(at + self._minutes(10, 300), "close", no)

    def _close(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        if state.status is not Status.VERIFIED:
            return
        if self._do(no, state, DUTY, at, "close", note="核查通过，结案") is not None and self.rng.random() < self.b.follow_up:
            self.at(self._daytime(at + self._minutes(60, 48 * 60)), "follow_up", no)

    def _follow_up(self, no: str, state: TicketState, at: datetime, _payload) -> None:
        self._do(no, state, HOTLINE, at, "comment", note=self.rng.choice(
            ["回访：市民对处置结果满意", "回访：市民基本满意", "回访：未接通，已短信告知处置结果"]))

    # ------------------------------------------------------------------ helpers
    def _staff(self, state: TicketState) -> Actor:
        unit = state.lead or (state.assignments[-1].unit if state.assignments else None)
        return Actor(f"staff-{unit}", Role.DEPARTMENT, unit=unit)

    def _limits(self, state: TicketState) -> tuple[tuple[timedelta, timedelta], TimeRule]:
        limits = self.loop.limits(state)
        if limits is None:
            return (timedelta(hours=2), timedelta(hours=24)), NaturalTime()
        return (limits.acknowledge, limits.handle), rule_for(limits, self.loop.working)

    def _inside(self) -> tuple[float, float]:
        """A point inside one of the districts (an urban one more likely), where a caller's address is."""
        r = self.reporter
        return r._point_in(r.rng.choices(r.districts, r.weights)[0])

    def _minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def _daytime(self, at: datetime) -> datetime:
        """Grid workers and call-takers work by day: a night instant moves to the next morning."""
        local = at.astimezone(self.tz)
        if 8 <= local.hour < 20:
            return at
        morning = local.replace(hour=8, minute=0, second=0, microsecond=0)
        if local.hour >= 20:
            morning += timedelta(days=1)
        return (morning + self._minutes(0, 180)).astimezone(UTC)


def next_step(state: TicketState, loop: LoopContext, policy: EscalationPolicy, after: datetime) -> datetime | None:
    """The first instant after `after` at which the deadline pass may decide something for this ticket: a
    running clock reaching the yellow share (not yet warned) or the share of the next rung of the ladder, or an
    approved extension running out. Only *when to look*: what happens then is the pass's decision
    (dispatch.escalation), so a look that finds nothing costs nothing. A second past each step, because the
    pass acts once a share is exceeded and time does not pass outside working hours."""
    limits = loop.limits(state)
    if limits is None:
        return None
    rule = rule_for(limits, loop.working)
    if state.status is Status.SUSPENDED:
        pause = state.open_pause
        end = planned_end(pause, rule) if pause is not None else None
        return end + timedelta(seconds=1) if end is not None and end > after else None
    turn = state.current
    if state.status not in WORKING or turn is None:
        return None
    projected = []
    for p in state.pauses:
        end = p.ended or planned_end(p, rule)
        if end is None:
            return None
        projected.append(Span(p.started, end))
    start = first_rung(loop.unit_levels.get(turn.unit))
    crossed = max(1, state.escalation_level - start + 2)  # steps exceeded to reach the next rung
    rung = policy.steps[crossed - 1] if crossed <= len(policy.steps) and start + crossed - 1 <= MAX_ESCALATION_LEVEL \
        else None
    clocks = [] if turn.rework or turn.acknowledged_at is not None else [
        (ClockKind.ACKNOWLEDGE, turn.dispatched_at, limits.acknowledge)]
    if turn.handled_at is None:
        clocks.append((ClockKind.HANDLE, turn.clock_started, limits.handle))
    instants = []
    for kind, started, limit in clocks:
        shares = ([rung] if rung is not None else []) + ([policy.yellow] if kind not in state.warned else [])
        for share in shares:
            at = rule.add(started, limit * share + timedelta(seconds=1), projected)
            if at > after:
                instants.append(at)
    return min(instants, default=None)
