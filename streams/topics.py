"""Topic names of the contract (§3), with an optional prefix so tests can own their topics."""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from dispatch.vocabulary import CHANNELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def report(self, channel: str) -> str:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")
        return f"{self.prefix}reports.{channel}"

    @property
    def intake(self) -> tuple[str, ...]:
        return tuple(self.report(c) for c in CHANNELS)

    @property
    def ticket_events(self) -> str:
        return f"{self.prefix}tickets.events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}reports.dlq"

    @property
    def sensor_readings(self) -> str:
        """Lifeline monitoring's readings (contract §10), keyed by device_id."""
        return f"{self.prefix}sensors.readings"

    @property
    def socketio(self) -> str:
        """The web processes' Socket.IO message queue (setting socketio_queue = "kafka"); one partition,
        so every process sees the emits in the order they were made."""
        return f"{self.prefix}web.socketio"

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.intake, self.ticket_events, self.dlq, self.socketio, self.sensor_readings)

    def channel_of(self, topic: str) -> str | None:
        for channel in CHANNELS:
            if topic == self.report(channel):
                return channel
        return None


def create_topics(bootstrap: str, topics: Topics, partitions: int, timeout_s: float = 30.0) -> list[str]:
    """Create every contract topic that does not exist yet; return the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topics.all if name not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(name, 1 if name == topics.socketio else partitions, 1)
                                     for name in missing])
            except TopicAlreadyExistsError:
                log.info("another process created some of %s first", missing)
        return missing
    finally:
        admin.close()


class _Admin(KafkaAdminClient):
    # Tansu answers with authorized-operation bits kafka-python's enum does not know; not needed here.
    def _process_acl_operations(self, obj):
        obj.pop("authorized_operations", None)
        return obj


def stable_members(bootstrap: str, group: str) -> int:
    """Members of a consumer group when it is Stable (0 otherwise), from the broker's own view: tests and the
    bench wait on it so that group joins are not part of what they measure."""
    admin = _Admin(bootstrap_servers=bootstrap)
    try:
        g = admin.describe_groups([group]).get(group) or {}
    finally:
        admin.close()
    state = g.get("group_state") or g.get("state")
    return len(g.get("members") or []) if state == "Stable" else 0


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics(names)
    finally:
        admin.close()


def broker_address(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port or 9092)


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
