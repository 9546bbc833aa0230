"""Alert threads: alert → update → cancel, and the IPAWS-OPEN style refusals."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.lifecycle import LifecycleRegistry, State
from tests.alerts.cap.test_validate import good, with_info

NOW = datetime(2030, 1, 1, 18, 30, tzinfo=UTC)  # 10:30 -08:00, after the first alert was sent


def message(identifier: str, msg_type: str = "Alert", references: str | None = None, sent: str = "10:00"):
    return good().model_copy(update={"identifier": identifier, "msg_type": msg_type, "references": references,
                                     "sent": f"2030-01-01T{sent}:00-08:00"})


def test_alert_update_cancel_moves_the_thread_through_its_states():
    reg = LifecycleRegistry()
    first = message("a1")
    assert reg.admit(first, NOW) == []
    assert reg.state(first.sender, "a1", NOW) is State.active
    update = message("a2", "Update", reg.live_references(first.sender, "a1", NOW), sent="10:20")
    assert update.references == first.reference_key()
    assert reg.admit(update, NOW) == []
    assert reg.state(first.sender, "a1", NOW) is State.updated
    cancel = message("a3", "Cancel", reg.live_references(first.sender, "a2", NOW), sent="10:25")
    assert cancel.references == f"{first.reference_key()} {update.reference_key()}"
    assert reg.admit(cancel, NOW) == []
    assert reg.state(first.sender, "a2", NOW) is State.cancelled
    late = message("a4", "Update", cancel.references, sent="10:29")
    assert [f.code for f in reg.admit(late, NOW)] == ["lifecycle.cancelled-reference"] * 2


def test_a_duplicate_identifier_is_refused():
    reg = LifecycleRegistry()
    assert reg.admit(message("a1"), NOW) == []
    [finding] = reg.admit(message("a1", sent="10:05"), NOW)
    assert finding.code == "lifecycle.duplicate" and "'a1' was already used" in finding.message


def test_update_without_references_or_with_unknown_ones_is_refused():
    reg = LifecycleRegistry()
    assert [f.code for f in reg.admit(message("u1", "Update"), NOW)] == ["lifecycle.missing-reference"]
    unknown = message("u2", "Cancel", "county-em@example.org,never-sent,2030-01-01T09:00:00-08:00")
    assert [f.code for f in reg.admit(unknown, NOW)] == ["lifecycle.missing-reference"]


def test_a_reference_to_an_expired_alert_is_refused_and_the_thread_reads_expired():
    reg = LifecycleRegistry()
    short = with_info(message("e1"), expires="2030-01-01T10:15:00-08:00")
    assert reg.admit(short, NOW) == []
    assert reg.state(short.sender, "e1", NOW) is State.expired
    update = message("e2", "Update", short.reference_key(), sent="10:20")
    [finding] = reg.admit(update, NOW)
    assert finding.code == "lifecycle.expired-reference" and "expired at 2030-01-01T10:15:00-08:00" in finding.message
    assert reg.live_references(short.sender, "e1", NOW) == ""
