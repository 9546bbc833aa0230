"""The stream suite holds on both engines: every test that takes ``broker`` runs on Tansu and on Apache Kafka."""

import pytest


@pytest.fixture
def broker(either_broker):
    return either_broker
