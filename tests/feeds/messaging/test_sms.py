"""Citizen reports by SMS end to end: a real Kannel (bearerbox + smsbox + fakesmsc) calling the inbound URL of
the running system, the Twilio-shaped webhook with its signature, and the conversation when the place or the
category is missing. The phone number never reaches a public answer or a log line."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import AsyncIterator

import pytest

from alerts.delivery.channels import sms, sms_twilio
from feeds.citizen.contacts import CONTACTS
from feeds.messaging.keywords import CATALOGUE
from feeds.messaging.service import SenderLimits
from feeds.messaging.sms import TWILIO_PATH
from tests.alerts.delivery.channels.kannel import Kannel, running_kannel
from tests.alerts.delivery.channels.test_sms import OptOutBook, settings_for
from tests.conftest import System, eventually

NUMBER = "+15035550142"
LINK = re.compile(r"https?://\S+/r/(citizen:\S+)")


@pytest.fixture
async def kannel(system: System, tmp_path) -> AsyncIterator[Kannel]:
    system.runtime.sms_opt_outs = OptOutBook()
    async with running_kannel(tmp_path / "kannel", get_url=sms.inbound_url(settings_for(system))) as k:
        yield k


async def stored(system: System, report_id: str):
    """The report's event once the store has it."""
    return await eventually(lambda: system.runtime.store.get_event(report_id))


async def on_the_picture(system: System, report_id: str) -> dict:
    async def found():
        r = await system.http.get(f"/api/v1/events/{report_id}")
        return r.json() if r.status_code == 200 else None

    return await eventually(found)


def logged(caplog, needle: str) -> list[str]:
    """Log lines that contain ``needle``: every logger at INFO and above, and this project's (and aiosmtpd's) at
    DEBUG too. (aiokafka's DEBUG lines echo internal topic payloads, which carry the private attributes for
    coordinators, as they do for the citizen API's contact.)"""
    ours = ("feeds", "alerts", "emergency", "mapping", "mail", "uvicorn")
    return [r.getMessage() for r in caplog.records
            if (r.levelno >= logging.INFO or r.name.split(".")[0] in ours) and needle in r.getMessage()]


def tracking_id(reply: str) -> str:
    match = LINK.search(reply)
    assert match, reply
    return match.group(1)


async def public_answers(system: System, report_id: str) -> str:
    """Every public answer that could show the report."""
    texts = []
    for path in ("/api/v1/reports", f"/api/v1/events/{report_id}", f"/api/v1/reports/{report_id}/status",
                 "/api/v1/incidents"):
        r = await system.http.get(path)
        assert r.status_code == 200, (path, r.text)
        texts.append(r.text)
    return "\n".join(texts)


async def test_an_sms_with_a_place_becomes_one_report_and_the_reply_carries_its_tracking_link(system, kannel, caplog):
    caplog.set_level(logging.DEBUG)
    [reply] = await kannel.inject(NUMBER, "12345", "smoke at Hawthorne and 20th", expect_reply=True)
    assert reply.startswith(f"12345 {NUMBER} text Report received (smoke, SE Hawthorne Blvd & SE 20th Ave")
    report_id = tracking_id(reply)
    assert f"{system.runtime.settings.public_base_url()}/r/{report_id}" in reply
    feature = await on_the_picture(system, report_id)
    assert feature["properties"]["category"] == "smoke"
    assert feature["properties"]["geo_precision"] == "street"
    stored = await system.runtime.store.get_event(report_id)
    assert stored.source.type == "citizen_sms"
    assert set(stored.attributes["private"]) == {"reporter"}  # kept as the citizen API keeps a contact:
    kept = await system.runtime.store.repository(CONTACTS).get(stored.id)  # in the private store only
    assert (kept.kind, kept.address) == ("sms", NUMBER) and NUMBER not in stored.model_dump_json()
    assert (await system.runtime.store.journal_counts()).total == 1
    with sqlite3.connect(system.settings.sqlite_file()) as db:  # Kannel's %I reached us: the retry key
        keys = [k for (k,) in db.execute("SELECT key FROM message_conversations")]
    assert [k for k in keys if re.fullmatch(r"msg:sms:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", k)]
    assert not [k for k in keys if "5550142" in k]
    public = await public_answers(system, report_id)
    assert report_id in public and "5550142" not in public
    assert not logged(caplog, "5550142")


async def test_without_a_place_the_conversation_asks_where_and_the_street_completes_it(system, kannel):
    [asked] = await kannel.inject(NUMBER, "12345", "big smoke here", expect_reply=True)
    assert asked.endswith(CATALOGUE["en"]["where"])
    assert (await system.runtime.store.journal_counts()).total == 0
    [done] = await kannel.inject(NUMBER, "12345", "Hawthorne and 20th", expect_reply=True)
    report_id = tracking_id(done)
    feature = await on_the_picture(system, report_id)
    assert feature["properties"]["category"] == "smoke"
    stored = await system.runtime.store.get_event(report_id)
    assert stored.text == "big smoke here / Hawthorne and 20th"
    assert (await system.runtime.store.journal_counts()).total == 1


async def test_stop_still_opts_out_and_makes_no_report(system, kannel):
    assert await kannel.inject(NUMBER, "12345", "STOP", expect_reply=True) == \
        [f"12345 {NUMBER} text {sms.REPLY_STOPPED}"]
    assert system.runtime.sms_opt_outs.stopped == {NUMBER: True}
    [helped] = await kannel.inject(NUMBER, "12345", "HELP", expect_reply=True)
    assert "Reply STOP to end" in helped
    assert (await system.runtime.store.journal_counts()).total == 0


def kannel_sig(system: System) -> str:
    return sms.inbound_url(settings_for(system)).split("sig=", 1)[1].split("&", 1)[0]


async def kannel_call(system: System, text: str, *, number: str = NUMBER, message_id: str | None = None) -> str:
    params = {"sig": kannel_sig(system), "from": number, "text": text}
    if message_id:
        params["id"] = message_id
    r = await system.http.get(sms.INBOUND_PATH, params=params)
    assert r.status_code == 200, r.text
    return r.text


async def test_a_retried_webhook_is_the_same_report_with_the_same_reply(system):
    first = await kannel_call(system, "flooding at Hawthorne and 20th", message_id="5b9c1f3e-0d7a-4b8e-9d51-1c2f")
    again = await kannel_call(system, "flooding at Hawthorne and 20th", message_id="5b9c1f3e-0d7a-4b8e-9d51-1c2f")
    assert first == again and "Report received (flood" in first
    await on_the_picture(system, tracking_id(first))
    assert (await system.runtime.store.journal_counts()).total == 1


async def test_unknown_category_is_asked_for_then_a_one_word_answer_files_it(system):
    asked = await kannel_call(system, "Hawthorne and 20th")
    assert asked == CATALOGUE["en"]["what"] and "HELP" not in asked  # HELP is issue 11's keyword
    done = await kannel_call(system, "ROAD")
    event = await stored(system, tracking_id(done))
    assert event.category == "blocked_road" and event.location_text == "Hawthorne and 20th"


async def test_a_whole_road_is_not_guessed_the_reply_names_it_and_asks_for_the_cross_street(system):
    asked = await kannel_call(system, "fire on Hawthorne")
    assert asked == CATALOGUE["en"]["where_on"].format(label="SE Hawthorne Blvd, Portland")
    assert (await system.runtime.store.journal_counts()).total == 0
    done = await kannel_call(system, "20th")  # the cross street alone, with the road understood
    assert "Report received (fire, SE Hawthorne Blvd & SE 20th Ave" in done
    event = await stored(system, tracking_id(done))
    assert event.category == "spot_fire" and event.geometry["type"] == "Point"
    assert event.location_text == "SE Hawthorne Blvd and 20th"


async def test_spanish_and_korean_messages_are_answered_in_their_language(system):
    es = await kannel_call(system, "humo en Hawthorne y 20th", number="+15035550143")
    assert es.startswith("Reporte recibido (humo, SE Hawthorne Blvd & SE 20th Ave") and "/r/citizen:" in es
    ko = await kannel_call(system, "연기가 많이 나요", number="+15035550144")
    assert ko == CATALOGUE["ko"]["where"]
    ko_done = await kannel_call(system, "Hawthorne and 20th", number="+15035550144")
    assert ko_done.startswith("신고 접수 (연기") and "/r/citizen:" in ko_done
    es_what = await kannel_call(system, "hay algo en la calle", number="+15035550145")
    assert es_what == CATALOGUE["es"]["what"]


async def test_beyond_the_rate_one_polite_reply_then_silence(system):
    system.runtime.messaging.limits = SenderLimits("2/hour")
    assert await kannel_call(system, "smoke") == CATALOGUE["en"]["where"]
    assert await kannel_call(system, "smoke") == CATALOGUE["en"]["where"]
    assert await kannel_call(system, "smoke") == CATALOGUE["en"]["limited"]
    assert await kannel_call(system, "smoke") == ""
    assert await kannel_call(system, "smoke", number="+15035550146") == CATALOGUE["en"]["where"]  # per number
    assert (await kannel_call(system, "STOP")) == sms.REPLY_STOPPED  # a way out is never rate limited


TWILIO = "twilio+https://AC0123456789abcdef:auth-token-xyz@api.twilio.invalid"


async def test_a_twilio_webhook_is_a_report_with_a_valid_signature_and_403_without(system, caplog):
    caplog.set_level(logging.DEBUG)
    desk = system.runtime.messaging
    desk.settings = desk.settings.model_copy(update={"sms_gateway_url": TWILIO, "sms_from": "+15035550000"})
    form = {"From": NUMBER, "To": "+15035550000", "Body": "smoke at Hawthorne and 20th",
            "MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": "AC0123456789abcdef"}
    url = f"{desk.settings.public_base_url()}{TWILIO_PATH}"
    good = sms_twilio.signature(token="auth-token-xyz", url=url, params=form.items())
    forged = await system.http.post(TWILIO_PATH, data=form, headers={"X-Twilio-Signature": "A" * 28})
    assert forged.status_code == 403 and forged.json()["detail"].startswith("X-Twilio-Signature:")
    other = sms_twilio.signature(token="someone-elses-token", url=url, params=form.items())
    assert (await system.http.post(TWILIO_PATH, data=form, headers={"X-Twilio-Signature": other})).status_code == 403
    tampered = {**form, "Body": "fire at Hawthorne and 20th"}
    assert (await system.http.post(TWILIO_PATH, data=tampered, headers={"X-Twilio-Signature": good})).status_code == 403
    assert (await system.runtime.store.journal_counts()).total == 0
    ok = await system.http.post(TWILIO_PATH, data=form, headers={"X-Twilio-Signature": good})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
    assert ok.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Report received (smoke, '
                              "SE Hawthorne Blvd &amp; SE 20th Ave")
    report_id = tracking_id(ok.text.removesuffix("</Message></Response>"))
    await on_the_picture(system, report_id)
    assert (await system.runtime.store.get_event(report_id)).source.type == "citizen_sms"
    again = await system.http.post(TWILIO_PATH, data=form, headers={"X-Twilio-Signature": good})
    assert again.text == ok.text and (await system.runtime.store.journal_counts()).total == 1
    stop = {**form, "Body": "STOP", "MessageSid": "SM0000000000000000000000000000stop"}
    system.runtime.sms_opt_outs = book = OptOutBook()
    signed = sms_twilio.signature(token="auth-token-xyz", url=url, params=stop.items())
    stopped = await system.http.post(TWILIO_PATH, data=stop, headers={"X-Twilio-Signature": signed})
    assert stopped.status_code == 200 and sms.REPLY_STOPPED in stopped.text and book.stopped == {NUMBER: True}
    public = await public_answers(system, report_id)
    assert "5550142" not in public
    assert not logged(caplog, "5550142")


async def test_the_twilio_webhook_refuses_when_no_twilio_gateway_is_configured_and_names_missing_fields(system):
    form = {"From": NUMBER, "Body": "smoke", "MessageSid": "SM1"}
    url = f"{system.runtime.settings.public_base_url()}{TWILIO_PATH}"
    sig = sms_twilio.signature(token="auth-token-xyz", url=url, params=form.items())
    r = await system.http.post(TWILIO_PATH, data=form, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 403 and "no Twilio-shaped gateway" in r.json()["detail"]
    unsigned = await system.http.post(TWILIO_PATH, data=form)
    assert unsigned.status_code == 422 and "X-Twilio-Signature" in unsigned.text
    desk = system.runtime.messaging
    desk.settings = desk.settings.model_copy(update={"sms_gateway_url": TWILIO, "sms_from": "+15035550000"})
    partial = {"Body": "smoke", "MessageSid": "SM1"}
    sig = sms_twilio.signature(token="auth-token-xyz", url=url, params=partial.items())
    r = await system.http.post(TWILIO_PATH, data=partial, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 422 and r.json()["detail"].startswith("From:")


def test_twilio_signature_matches_the_documented_example():
    # Twilio's own example of request validation (TwilioDevEd/api-snippets, security/signature_validation)
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234", "From": "+14158675310",
              "To": "+18005551212"}
    assert sms_twilio.signature(token="12345", url="https://mycompany.com/myapp.php?foo=1&bar=2",
                                params=params.items()) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
