"""python-socketio's Kafka message queue, made fit for the broker Yunguan already runs.

With `socketio_queue = "kafka"`, every web process emits through this manager: an emit reaches the clients
of the emitting process at once and the others through the topic `web.socketio`. The stock KafkaManager
publishes str values (kafka-python wants bytes), flushes the producer on every emit, waits up to 500 ms
per fetch and may auto-create its topic; this one sends bytes without a per-emit flush, fetches with a
short wait and requires the topic `yunguan up` creates.
"""
from __future__ import annotations

import json
import logging

import kafka
from socketio import KafkaManager

log = logging.getLogger(__name__)


class KafkaQueue(KafkaManager):
    name = "kafka"

    def __init__(self, bootstrap: str, topic: str) -> None:  # noqa: D107 - the parent's __init__ is replaced
        # Skip KafkaManager.__init__ (it builds its own clients); PubSubManager's sets channel and host id.
        super(KafkaManager, self).__init__(channel=topic, write_only=False, logger=log)
        servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
        self.kafka_urls = servers
        self.producer = kafka.KafkaProducer(bootstrap_servers=servers, acks=1, linger_ms=0,
                                            enable_idempotence=False)
        self.consumer = kafka.KafkaConsumer(
            bootstrap_servers=servers, group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
            allow_auto_create_topics=False, fetch_max_wait_ms=20,
        )
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist; run `yunguan up` (or `yunguan topics create`)")
        tps = [kafka.TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)  # resolve now: an emit made after start-up is never skipped

    def _publish(self, data) -> None:
        self.producer.send(self.channel, value=json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def _listen(self):
        while True:
            for records in self.consumer.poll(timeout_ms=500).values():
                for record in records:
                    yield record.value
