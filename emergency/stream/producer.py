"""Producer factory and publishing helpers.

``acks="all"``; idempotence when the broker grants producer ids (Apache Kafka, asked at each start:
``emergency.stream.abilities``). The embedded broker refuses them, so delivery there is
at-least-once; every consumer deduplicates by event id either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from emergency.config import Settings
from emergency.stream.abilities import detect
from emergency.stream.bounded import bounded


def make_producer(settings: Settings, bootstrap: str, *, idempotence: bool = False) -> AIOKafkaProducer:
    """An unstarted producer with acks=all and bounded request time (idempotent if asked)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        request_timeout_ms=int(settings.broker_timeout_s * 1000),
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
    )


async def start_producer(settings: Settings, bootstrap: str) -> AIOKafkaProducer:
    """A started producer, idempotent where the broker allows it; the start is bounded by the broker timeout."""
    abilities = await detect(settings, bootstrap)
    producer = make_producer(settings, bootstrap, idempotence=abilities.idempotence)
    try:
        await bounded(producer.start(), settings.broker_timeout_s, "start")
    except BaseException:
        await _quiet_stop(producer)
        raise
    return producer


async def publish_all(
    producer: AIOKafkaProducer,
    messages: Iterable[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]],
    timeout_s: float,
) -> int:
    """Send (topic, key, value, headers) messages and wait until the broker acknowledged all of them."""
    futures = [
        await producer.send(topic, value=value, key=key, headers=headers)
        for topic, key, value, headers in messages
    ]
    if futures:
        await bounded(asyncio.gather(*futures), timeout_s, "waiting for broker acknowledgements")
    return len(futures)


async def _quiet_stop(producer: AIOKafkaProducer) -> None:
    try:
        await bounded(producer.stop(), 5, "stop")
    except Exception:
        pass


stop_producer = _quiet_stop
