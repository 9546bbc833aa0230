"""The priority classes of the delivery contract."""

from __future__ import annotations

from alerts.delivery.models import DELIVERY_TOPICS, priority
from alerts.tiers import Tier
from emergency.stream.topics import ALL_TOPICS


def test_every_tier_has_its_priority_class_and_topic():
    assert [priority(t) for t in Tier] == [0, 1, 2, 3, 4, 5]  # presidential first, test last
    assert priority("a tier this system does not know", "Extreme") == 1  # never held back for being unclassified
    assert priority("a tier this system does not know") == 2
    assert set(DELIVERY_TOPICS) <= set(ALL_TOPICS) and "alerts.subscriptions" in ALL_TOPICS
