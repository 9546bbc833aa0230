"""The broker outage is said once; the Kafka client's repeated lines are held back (real loggers, real records)."""

from __future__ import annotations

import asyncio
import logging

from emergency.stream.bounded import BrokerTimeout
from emergency.stream.outage import BrokerOutage, KafkaClientLog


def test_an_outage_is_one_warning_and_one_info_whoever_fails(caplog):
    caplog.set_level(logging.INFO)
    outage = BrokerOutage("127.0.0.1:1")
    client = logging.getLogger("aiokafka")
    for who in ("outbox relay", "consumer group normaliser", "tail ['alerts.issued']", "outbox relay"):
        assert outage.failed(who, "BrokerTimeout: fetch did not finish", BrokerTimeout("fetch"))
    for _ in range(500):
        client.error("Unable connect to node with id %s: %s", 111, "Connect call failed")
    assert not outage.failed("projector", "ValueError: bad", ValueError("bad"))  # not the broker's: caller says it
    outage.up("topics re-created")
    lines = [(r.name, r.levelname) for r in caplog.records]
    assert lines == [("emergency.stream.outage", "WARNING"), ("emergency.stream.outage", "INFO")]
    assert "answering again" in caplog.records[1].getMessage()
    assert outage.held_back >= 3  # the other components' failures (the client's lines may count on another outage)


def test_outside_an_outage_each_kind_of_client_line_shows_once_a_minute():
    held_back = KafkaClientLog()  # a filter of its own (the process's one has seen other tests' lines)
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")

    def shown(level: int, msg: str, *args: object) -> str | None:
        record = fetcher.makeRecord(fetcher.name, level, __file__, 1, msg, args, None)
        return record.getMessage() if held_back.filter(record) else None

    seen = [shown(logging.ERROR, "Failed fetch messages from %s: %s", 7, "NodeNotReadyError") for _ in range(100)]
    seen += [shown(logging.WARNING, "Unexpected error in %s", "heartbeat") for _ in range(100)]
    assert [line for line in seen if line] == ["Failed fetch messages from 7: NodeNotReadyError",
                                               "Unexpected error in heartbeat"]
    for kind, (at, held) in held_back.last.items():  # a minute later: the next one shows, saying how many were held
        held_back.last[kind] = (at - KafkaClientLog.every_s, held)
    assert shown(logging.ERROR, "Failed fetch messages from %s: %s", 7, "NodeNotReadyError") == (
        "Failed fetch messages from 7: NodeNotReadyError (99 like this held back in the last 60 s)")
    assert shown(logging.INFO, "Joined group %s", "projector") == "Joined group projector"  # below WARNING: always


async def test_a_client_line_just_before_its_outage_opens_is_counted_in_it_not_shown(caplog):
    """The client sees a killed broker's socket close a moment before the process can be reaped: its line waits."""
    caplog.set_level(logging.INFO)
    held_back = KafkaClientLog()
    held_back.wait_s = 0.2
    dying, healthy = BrokerOutage("127.0.0.1:1"), BrokerOutage("127.0.0.1:2")
    sender = logging.getLogger("aiokafka.test_outage_wait")
    sender.addFilter(held_back)
    try:
        held_back.outages.add(dying)
        sender.warning("Got error produce response: %s", "KafkaConnectionError: Connection at 127.0.0.1:1 closed")
        assert not [r for r in caplog.records if r.name == sender.name]  # not at once
        dying.begin("the embedded broker process was killed by SIGKILL")  # the reaper notices a moment later
        await asyncio.sleep(0.5)
        assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["emergency.stream.outage"]
        assert dying.held_back == 1

        caplog.clear()
        held_back.outages.discard(dying)
        held_back.outages.add(healthy)  # no outage follows: the line shows, once, after the wait
        sender.warning("Unexpected error in %s", "heartbeat")
        sender.warning("Unexpected error in %s", "heartbeat")
        assert not caplog.records
        await asyncio.sleep(0.5)
        assert [r.getMessage() for r in caplog.records] == ["Unexpected error in heartbeat"]
    finally:
        sender.removeFilter(held_back)
