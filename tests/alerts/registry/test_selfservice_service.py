"""The self-registration's decisions: who registered, the dated consent of the checkbox, when an entry is active,
the confirmation notice's key, and the message in the registrant's language with the code once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from alerts.delivery.models import ChannelType
from alerts.registry.models import CaregiverIn
from alerts.registry.selfservice.service import (
    confirm_key,
    confirm_target,
    confirmation_message,
    consent_at,
    source_of,
    unconfirmed_expiry,
)
from alerts.registry.service import activated, status_of
from alerts.subscriptions.models import StoredChannel
from emergency.errors import ValidationFailed
from emergency.events import utcnow
from tests.alerts.registry.test_repository import registrant


def channel(cid: str, confirmed: bool) -> StoredChannel:
    return StoredChannel(channel_id=cid, channel=ChannelType.sms, number="+15035550100", confirmed=confirmed)


def test_who_registered_and_the_consent_checkbox():
    assert source_of(registered_by="self", caregiver=None) == "self"
    assert source_of(registered_by="caregiver", caregiver=CaregiverIn(name="Cal")) == "caregiver"
    with pytest.raises(ValidationFailed) as refused:
        source_of(registered_by="caregiver", caregiver=None)
    assert refused.value.field == "caregiver"
    now = utcnow()
    assert consent_at(consent=True, now=now) == now
    with pytest.raises(ValidationFailed) as refused:
        consent_at(consent=False, now=now)
    assert refused.value.field == "consent"


def test_active_only_once_every_contact_is_confirmed():
    assert status_of([channel("sms-0", True), channel("email-0", True)]) == "active"
    assert status_of([channel("sms-0", True), channel("email-0", False)]) == "pending_confirmation"
    assert status_of([]) == "pending_confirmation"


def test_the_notice_key_names_the_entry_and_the_channel():
    key = confirm_key(registrant_id="reg-ab12", channel_id="email-0", version=3)
    assert confirm_target(key) == ("reg-ab12", "email-0")


@pytest.mark.parametrize(("language", "word"), [(None, "confirmation code"), ("es-MX", "código"), ("ko", "확인 코드"),
                                                ("fr", "confirmation code")])
def test_the_message_is_in_the_registrants_language_with_the_code_once(language, word):
    reg = registrant("reg-1").model_copy(update={"language": language})
    m = confirmation_message(reg=reg, code="042917", base="https://alerts.example.org/")
    assert word in m.wea_long and m.link == "https://alerts.example.org/registry"
    assert re.findall(r"\d{6}", m.wea_long) == ["042917"] and "042917" in m.wea_short
    assert "Ada" not in m.wea_long + m.headline + (m.instruction or "")


def test_an_entry_is_activated_once_and_only_a_never_active_one_expires():
    now = utcnow()
    new = registrant("reg-new").model_copy(update={"status": "pending_confirmation", "source": "self",
                                                     "created_at": now - timedelta(hours=1), "updated_at": None})
    assert new.awaiting_first_confirmation
    assert unconfirmed_expiry(new, ttl_s=7200) == now + timedelta(hours=1)
    assert activated(old=new, update={"status": "pending_confirmation"}, now=now) == {"status": "pending_confirmation"}
    confirmed = new.model_copy(update=activated(old=new, update={"status": "active"}, now=now))
    assert confirmed.activated_at == now and unconfirmed_expiry(confirmed, ttl_s=7200) is None

    later = now + timedelta(days=2)  # a changed contact to confirm: pending, but active once, so kept and covered
    changed = confirmed.model_copy(update=activated(old=confirmed, update={"status": "pending_confirmation"},
                                                    now=later))
    assert changed.activated_at == now and not changed.awaiting_first_confirmation
    assert unconfirmed_expiry(changed, ttl_s=7200) is None

    # an entry stored active before activated_at existed counts as active since its last change
    legacy = registrant("reg-old").model_copy(update={"status": "active", "updated_at": now - timedelta(days=9)})
    assert activated(old=legacy, update={"status": "pending_confirmation"}, now=now)["activated_at"] == \
        now - timedelta(days=9)
