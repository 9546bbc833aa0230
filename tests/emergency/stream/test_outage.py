"""The broker outage is said once; the Kafka client's repeated lines are held back (real loggers, real records)."""

from __future__ import annotations

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
    assert "503 connection errors held back" in caplog.records[1].getMessage()


def test_outside_an_outage_each_kind_of_client_line_shows_once_a_minute(caplog):
    caplog.set_level(logging.INFO)
    BrokerOutage("127.0.0.1:2")  # installs the filter
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")
    for _ in range(100):
        fetcher.error("Failed fetch messages from %s: %s", 7, "NodeNotReadyError")
        fetcher.warning("Unexpected error in %s", "heartbeat")
    shown = [r.getMessage() for r in caplog.records if r.name == "aiokafka.consumer.fetcher"]
    assert shown == ["Failed fetch messages from 7: NodeNotReadyError", "Unexpected error in heartbeat"]
    seen = KafkaClientLog._installed.last
    for kind, (at, held) in seen.items():  # a minute later: the next one shows again, saying how many were held
        seen[kind] = (at - KafkaClientLog.every_s, held)
    fetcher.error("Failed fetch messages from %s: %s", 7, "NodeNotReadyError")
    assert caplog.records[-1].getMessage() == ("Failed fetch messages from 7: NodeNotReadyError "
                                               "(99 like this held back in the last 60 s)")
