"""Read retained topics from their first message to their current end: the design's other replay mode.

``emergency rebuild --from-topics`` gives the projector's topics to the store again. It works only where the
broker still holds every message since the topics were created: it refuses when the topics are missing
(the embedded broker keeps them in memory only) or when retention has removed their first messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from emergency.config import Settings
from emergency.errors import BrokerError
from emergency.events import Envelope
from emergency.stream.bounded import bounded
from emergency.stream.consumer import decode, topic_partitions

log = logging.getLogger(__name__)


async def replay_topics(*, settings: Settings, bootstrap: str, topics: list[str],
                        apply: Callable[[list[Envelope]], Awaitable[object]] | None,
                        batch: int = 500) -> dict[str, int]:
    """Give every message of ``topics`` (logical names), from offset 0 to the end found at the start, to
    ``apply`` in batches, in partition order. BrokerError when a topic is missing or no longer starts at 0.
    Returns {"messages": n, "undecodable": n} (undecodable ones were dead-lettered when first consumed).
    With ``apply=None`` it only checks the topics are whole and returns {"messages": messages they hold}."""
    timeout = settings.broker_timeout_s
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=int(timeout * 1000) + 1000)
    await bounded(consumer.start(), timeout, "start")
    try:
        names = [settings.topic(logical) for logical in topics]
        held = await topic_partitions(consumer, names, timeout)
        tps: list[TopicPartition] = []
        for name in names:
            if not held[name]:
                raise BrokerError(f"the broker at {bootstrap} does not hold topic {name}: nothing to replay "
                                  "(the embedded broker keeps topics in memory only); `emergency rebuild` "
                                  "replays the journal instead")
            tps += held[name]
        starts = await bounded(consumer.beginning_offsets(tps), timeout, "beginning_offsets")
        trimmed = [f"{tp.topic}[{tp.partition}] starts at {starts[tp]}" for tp in tps if starts[tp] > 0]
        if trimmed:
            raise BrokerError("retention has removed the first messages of the topics (" + "; ".join(trimmed)
                              + "): they no longer hold the whole picture; `emergency rebuild` replays the journal")
        ends = await bounded(consumer.end_offsets(tps), timeout, "end_offsets")
        if apply is None:
            return {"messages": sum(ends.values()), "undecodable": 0}
        todo = {tp: ends[tp] for tp in tps if ends[tp] > 0}
        consumer.assign(list(todo))
        await bounded(consumer.seek_to_beginning(*todo), timeout, "seek_to_beginning")
        messages = undecodable = 0
        while todo:
            got = await bounded(consumer.getmany(*todo, timeout_ms=500, max_records=batch), timeout + 5, "getmany")
            for tp, recs in got.items():
                events = []
                for rec in recs:
                    if rec.offset >= todo.get(tp, 0):
                        continue  # published after the replay began: the running system has it
                    messages += 1
                    try:
                        events.append(decode(rec))
                    except ValueError:
                        undecodable += 1
                if events:
                    await apply(events)
                if recs and recs[-1].offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
        return {"messages": messages, "undecodable": undecodable}
    finally:
        try:
            await bounded(consumer.stop(), 5, "stop")
        except Exception:
            pass
