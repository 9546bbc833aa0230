#!/usr/bin/env python
"""How long one message takes from produce to an idle group consumer, by ``fetch_max_wait_ms``.

    python bench/fetch_wait_probe.py [--messages 40] [--waits 500,100,25,10] [--backlog 0,20000,60000]

Starts its own embedded Tansu broker. Messages are sent one at a time at random intervals
(50-800 ms), so the consumer always has a fetch parked at the broker when a message arrives:
the figure shows how quickly the broker answers a parked fetch. Tansu answers it only when
``fetch_max_wait_ms`` runs out, not when data arrives (aiokafka's default is 500 ms; the
project's consumers use ``EMERGENCY_FETCH_MAX_WAIT_MS``, 25 by default).

``--backlog N`` first writes N 526-byte messages to the topic (and reads them), to see whether
the answer gets slower as a topic grows on the broker's in-memory storage.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bench.pipeline import create_topic, percentile  # noqa: E402
from emergency.stream.broker import EmbeddedBroker  # noqa: E402


async def trial(bootstrap: str, wait_ms: int, n: int, backlog: int = 0) -> list[float]:
    topic = f"probe{wait_ms}-{backlog}-{random.randrange(1 << 30)}"
    await create_topic(bootstrap, topic, 3)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=2000, heartbeat_interval_ms=666,
                                fetch_max_wait_ms=wait_ms)
    await producer.start()
    await consumer.start()
    try:
        await (await producer.send(topic, b"warm-up", key=b"w"))
        while not any((await consumer.getmany(timeout_ms=200)).values()):
            pass
        if backlog:
            filler = b"x" * 526
            await asyncio.gather(*[await producer.send(topic, filler, key=f"b{i}".encode()) for i in range(backlog)])
            seen = 0
            while seen < backlog:
                seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values())
        rnd = random.Random(1)
        out = []
        for i in range(n):
            await asyncio.sleep(rnd.uniform(0.05, 0.8))
            t = time.perf_counter()
            await producer.send(topic, b"x", key=str(i).encode())
            while not any((await consumer.getmany(timeout_ms=2000)).values()):
                pass
            out.append((time.perf_counter() - t) * 1000)
        return sorted(out)
    finally:
        await producer.stop()
        await consumer.stop()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=40)
    p.add_argument("--waits", default="500,100,25,10", help="comma-separated fetch_max_wait_ms values")
    p.add_argument("--backlog", default="0", help="comma-separated numbers of messages written to the topic first")
    args = p.parse_args()
    broker = EmbeddedBroker()
    bootstrap = await broker.start()
    try:
        for b in (int(x) for x in args.backlog.split(",")):
            for w in (int(x) for x in args.waits.split(",")):
                lat = await trial(bootstrap, w, args.messages, b)
                print(f"fetch_max_wait_ms={w:4d} backlog={b:6d}: produce -> consumed  p50 {percentile(lat, 50):6.1f} ms"
                      f"  p90 {percentile(lat, 90):6.1f} ms  max {lat[-1]:6.1f} ms", flush=True)
    finally:
        await broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
