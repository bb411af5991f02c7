"""Socket.IO namespace /console (contract §7): Origin and token checked on connect, rooms decided by the server.

The web process relays `tickets.events` to rooms: every event to `all` (command centre), to
`unit:<assignee>` and to `grid:<grid cell>`. Delivery is best effort; clients fill gaps through
GET /api/v1/tickets?since=…
"""
from __future__ import annotations

import json
import logging
import threading

from flask import current_app, request
from flask_socketio import SocketIO, join_room
from kafka import KafkaConsumer, TopicPartition

from dispatch.actors import scope_of
from store.users import User
from web.auth import user_from_token
from web.security import socket_origin_refusal

log = logging.getLogger(__name__)

NAMESPACE = "/console"


def rooms_for_user(user: User) -> list[str]:
    """The account's rooms, from the one visibility rule (dispatch.actors.Scope)."""
    return scope_of(user.role, user.unit_code, user.grid_code).rooms()


def rooms_for_event(event: dict) -> list[str]:
    rooms = ["all"]
    assignee = event.get("assignee") or {}
    if assignee.get("code"):
        rooms.append(f"unit:{assignee['code']}")
    for unit in event.get("assists") or ():  # 协办 units see the tickets they help with
        rooms.append(f"unit:{unit}")
    grid = (event.get("area") or {}).get("grid") or {}
    if isinstance(grid, dict) and grid.get("code"):
        rooms.append(f"grid:{grid['code']}")
    return rooms


class SocketSweep:
    """Who is connected as whom; every `every_s` seconds, sockets whose account was disabled, logged out
    (token epoch bumped) or moved to another role, unit or grid cell are disconnected, because their rooms
    were decided by what the account was when it connected."""

    def __init__(self, socketio: SocketIO, engine, every_s: float = 3.0) -> None:
        self.socketio, self.engine, self.every_s = socketio, engine, every_s
        self.sessions: dict[str, User] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dropped = 0

    def start(self) -> None:
        self.socketio.start_background_task(self._run)

    def stale(self) -> list[str]:
        from store.users import sessions_of

        with self.lock:
            sessions = dict(self.sessions)
        if not sessions:
            return []
        with self.engine.connect() as conn:
            now = sessions_of(conn, sorted({u.id for u in sessions.values()}))
        out = []
        for sid, was in sessions.items():
            cur = now.get(was.id)
            if cur is None or not cur.active or (cur.token_epoch, cur.role, cur.unit_code, cur.grid_code) != (
                    was.token_epoch, was.role, was.unit_code, was.grid_code):
                out.append(sid)
        return out

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                for sid in self.stale():
                    log.info("socket %s: account changed or logged out; disconnecting", sid)
                    self.socketio.server.disconnect(sid, namespace=NAMESPACE)
                    with self.lock:
                        self.sessions.pop(sid, None)
                    self.dropped += 1
            except Exception:
                log.exception("socket sweep failed; retrying")


def register(socketio: SocketIO, sweep: SocketSweep) -> None:
    @socketio.on("disconnect", namespace=NAMESPACE)
    def _disconnect(*_args):
        with sweep.lock:
            sweep.sessions.pop(request.sid, None)

    @socketio.on("connect", namespace=NAMESPACE)
    def _connect(auth=None):
        # A page of another site could hold a token (copied, or from its own XSS); the Origin says whose page
        # opened the socket, so it is checked before the token (decision 0011).
        refusal = socket_origin_refusal(current_app.extensions["yunguan"].settings)
        if refusal:
            log.warning("socket %s refused: %s", request.sid, refusal)
            raise ConnectionRefusedError(refusal)
        token = auth.get("token") if isinstance(auth, dict) else None
        user = user_from_token(token)
        if user is None:
            raise ConnectionRefusedError("a valid token is required: auth={token: ...} from POST /api/v1/auth/token")
        rooms = rooms_for_user(user)
        if not rooms:
            raise ConnectionRefusedError(f"role {user.role} has no console rooms")
        for room in rooms:
            join_room(room)
        with sweep.lock:
            sweep.sessions[request.sid] = user
        log.info("socket %s joined %s as %s", request.sid, rooms, user.username)


class EventBridge:
    """Consumes tickets.events and emits. Without a message queue (`group` None) every web process reads
    every event and emits to its own clients. With the Kafka message queue the processes share the events
    in the consumer group `group` and each emit reaches the clients of every process through the queue:
    either way a client gets each event once, on whichever process it is connected to."""

    def __init__(self, socketio: SocketIO, bootstrap: str, topic: str, group: str | None = None,
                 session_timeout_ms: int = 10000, max_poll_interval_ms: int = 10000) -> None:
        self.socketio = socketio
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.session_timeout_ms = session_timeout_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.emitted = 0

    def start(self) -> None:
        self.socketio.start_background_task(self._run)

    def _consumer(self) -> KafkaConsumer:
        if self.group:
            return self._group_consumer()
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            allow_auto_create_topics=False, auto_offset_reset="latest", fetch_max_wait_ms=50,
        )
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise RuntimeError(f"topic {self.topic} does not exist; run `yunguan up`")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        for tp in tps:
            consumer.position(tp)  # resolve the end offsets now, so nothing emitted later is skipped
        return consumer

    def _group_consumer(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=True,
            allow_auto_create_topics=False, auto_offset_reset="latest", fetch_max_wait_ms=50,
            session_timeout_ms=self.session_timeout_ms, max_poll_interval_ms=self.max_poll_interval_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 3, 100),
        )
        if not consumer.partitions_for_topic(self.topic):
            consumer.close()
            raise RuntimeError(f"topic {self.topic} does not exist; run `yunguan up`")
        consumer.subscribe([self.topic])
        return consumer

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                consumer = self._consumer()
            except Exception as exc:
                log.warning("event bridge cannot consume %s yet: %s; retrying", self.topic, exc)
                self.stop.wait(2.0)
                continue
            self.ready.set()
            try:
                while not self.stop.is_set():
                    for records in consumer.poll(timeout_ms=200).values():
                        for record in records:
                            self._emit(record.value)
            except Exception:
                log.exception("event bridge failed; reconnecting")
                self.ready.clear()
            finally:
                consumer.close()

    def _emit(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except (ValueError, TypeError):
            log.error("tickets.events carried a non-JSON value; skipped")
            return
        self.socketio.emit("ticket", event, to=rooms_for_event(event), namespace=NAMESPACE)
        self.emitted += 1
