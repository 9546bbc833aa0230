"""Citizen reports by email end to end: the system's reports SMTP listener (aiosmtpd) takes a mail, the report
reaches the picture, and the answer with the tracking link arrives at a capturing SMTP server (aiosmtpd) that
stands for the sender's mail server. Automatic mails are never answered; bounded sizes; the address stays
private."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from emergency.store import EventQuery
from feeds.citizen.contacts import CONTACTS
from feeds.messaging.keywords import CATALOGUE
from feeds.messaging.mail import reports_address
from feeds.messaging.service import SenderLimits
from feeds.photos.repository import PHOTOS
from tests.alerts.delivery.channels.messages import free_port
from tests.alerts.delivery.channels.test_email import Sink
from tests.conftest import System, eventually, make_settings, start_system
from tests.feeds.messaging.test_sms import logged, on_the_picture, public_answers, stored, tracking_id

SENDER = "ana.reporter@example.org"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\x85\x1e\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def peer() -> Iterator[Sink]:
    """The sender's mail server, where our answers arrive."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
async def mailsystem(broker, sqlite_url, tmp_path, peer) -> AsyncIterator[System]:
    """The system with its reports SMTP listener on, answering through the email channel to ``peer``."""
    settings = make_settings(broker, sqlite_url, tmp_path, reports_smtp_port=free_port(),
                             smtp_url=f"smtp://127.0.0.1:{peer.port}", public_url="https://report.example.org",
                             reports_mail_max_bytes=64 * 1024, reports_attachment_max_bytes=2048)
    system, task, server = await start_system(settings, broker)
    yield system
    await system.http.aclose()
    server.should_exit = True
    await task
    await system.runtime.stop()


def mail(subject: str, body: str, *, sender: str = SENDER, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Ana <{sender}>"
    message["To"] = "reports@report.example.org"
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((subject, body, sender, tuple(headers.items()))))}@example.org>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def send(system: System, message: EmailMessage, *, sender: str = SENDER, to: str | None = None):
    return await aiosmtplib.send(message, hostname="127.0.0.1", port=system.settings.reports_smtp_port,
                                 sender=sender, recipients=[to or reports_address(system.settings)], timeout=20)


async def test_a_mail_with_a_place_becomes_a_report_and_the_answer_carries_the_tracking_link(mailsystem, peer, caplog):
    caplog.set_level(logging.DEBUG)
    await send(mailsystem, mail("Smoke at Hawthorne and 20th", "Thick smoke from a backyard."))
    [answer] = await eventually(lambda: peer.mails)
    assert answer["To"] == SENDER and answer["Auto-Submitted"] == "auto-generated"
    text = answer.get_body(("plain",)).get_content()
    assert "Report received (smoke, SE Hawthorne Blvd & SE 20th Ave, Portland)" in text
    report_id = tracking_id(text)
    assert f"https://report.example.org/r/{report_id}" in text
    feature = await on_the_picture(mailsystem, report_id)
    assert feature["properties"]["category"] == "smoke"
    event = await stored(mailsystem, report_id)
    assert event.source.type == "citizen_email" and set(event.attributes["private"]) == {"reporter"}
    kept = await mailsystem.runtime.store.repository(CONTACTS).get(event.id)  # the address only in the private store
    assert (kept.kind, kept.address) == ("email", SENDER) and SENDER not in event.model_dump_json()
    assert event.text == "Smoke at Hawthorne and 20th Thick smoke from a backyard."
    public = await public_answers(mailsystem, report_id)
    assert report_id in public and "ana.reporter" not in public
    assert not logged(caplog, "ana.reporter")


async def test_without_a_place_the_answer_asks_where_and_the_reply_by_mail_completes_it(mailsystem, peer):
    await send(mailsystem, mail("Flooding", "The street is under water."))
    [asked] = await eventually(lambda: peer.mails)
    assert CATALOGUE["en"]["where"] in asked.get_body(("plain",)).get_content()
    assert (await mailsystem.runtime.store.journal_counts()).total == 0
    await send(mailsystem, mail("Re: Flooding", "Hawthorne and 20th\n\n> Where? Reply with street and cross street\n"))
    done = await eventually(lambda: len(peer.mails) == 2 and peer.mails[1])
    report_id = tracking_id(done.get_body(("plain",)).get_content())
    event = await stored(mailsystem, report_id)
    assert event.category == "flooding" and event.location_text.startswith("Flooding Hawthorne and 20th")


async def test_automatic_mails_are_taken_and_never_answered(mailsystem, peer):
    await send(mailsystem, mail("Out of office: Smoke at Hawthorne and 20th", "I am away", Auto_Submitted="auto-replied"))
    await send(mailsystem, mail("Smoke at Hawthorne and 20th", "list copy", Precedence="bulk"))
    await send(mailsystem, mail("Undelivered Mail Returned to Sender", "smoke at Hawthorne and 20th"), sender="")
    await send(mailsystem, mail("Smoke at Hawthorne and 20th", "bounce", sender="MAILER-DAEMON@example.org"),
               sender="MAILER-DAEMON@example.org")
    await send(mailsystem, mail("Smoke at Hawthorne and 20th", "a person this time"))  # the next, real one
    [answer] = await eventually(lambda: peer.mails)
    assert "a person" not in answer.get_body(("plain",)).get_content()
    assert len(peer.mails) == 1 and (await mailsystem.runtime.store.journal_counts()).total == 1


async def test_other_addresses_oversized_mail_and_non_image_attachments_are_refused(mailsystem, peer):
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(mailsystem, mail("Smoke at Hawthorne and 20th", "x"), to="alerts@report.example.org")
    assert refused.value.recipients[0].code == 550
    with pytest.raises(aiosmtplib.SMTPResponseException) as big:
        await send(mailsystem, mail("Smoke at Hawthorne and 20th", "x" * 70_000))
    assert big.value.code == 552
    with_pdf = mail("Smoke at Hawthorne and 20th", "see attached")
    with_pdf.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="map.pdf")
    with pytest.raises(aiosmtplib.SMTPResponseException) as pdf:
        await send(mailsystem, with_pdf)
    assert pdf.value.code == 554 and "map.pdf" in pdf.value.message
    with_big_image = mail("Smoke at Hawthorne and 20th", "photo")
    with_big_image.add_attachment(PNG + b"\0" * 4096, maintype="image", subtype="png", filename="big.png")
    with pytest.raises(aiosmtplib.SMTPResponseException) as large:
        await send(mailsystem, with_big_image)
    assert large.value.code == 552 and "big.png" in large.value.message
    assert peer.mails == [] and (await mailsystem.runtime.store.journal_counts()).total == 0
    with_image = mail("Smoke at Hawthorne and 20th", "photo attached")
    with_image.add_attachment(real_png(), maintype="image", subtype="png", filename="smoke.png")
    with_image.add_attachment(PNG, maintype="image", subtype="png", filename="broken.png")  # a truncated PNG
    await send(mailsystem, with_image)
    [answer] = await eventually(lambda: peer.mails)
    text = answer.get_body(("plain",)).get_content()
    assert "Report received" in text and "1 photo(s) attached." in text
    assert "Photo broken.png not kept: " in text  # the report stands; the sender learns which photo and why
    [report] = await eventually(lambda: mailsystem.runtime.store.query_events(EventQuery(layers=("reports",))))
    [kept] = await mailsystem.runtime.store.repository(PHOTOS).of_owner(report.id)
    assert kept.media_type == "image/png"  # through the photo rules: re-encoded, stored by hash


def real_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 20)).save(out, format="PNG")
    return out.getvalue()


async def test_beyond_the_rate_a_sender_gets_451_and_no_answer(mailsystem, peer):
    mailsystem.runtime.messaging.limits = SenderLimits("1/hour")
    await send(mailsystem, mail("Smoke", "first"))
    await eventually(lambda: peer.mails)
    with pytest.raises(aiosmtplib.SMTPResponseException) as limited:
        await send(mailsystem, mail("Smoke", "second"))
    assert limited.value.code == 451
    assert len(peer.mails) == 1


async def test_a_mail_sent_twice_is_one_report(mailsystem, peer):
    message = mail("Damage at Hawthorne and 20th", "roof collapsed")
    await send(mailsystem, message)
    await send(mailsystem, message)
    answers = await eventually(lambda: len(peer.mails) == 2 and peer.mails)
    ids = {tracking_id(a.get_body(("plain",)).get_content()) for a in answers}
    assert len(ids) == 1 and re.match(r"^citizen:key:[0-9a-f]{32}$", ids.pop())
    assert (await mailsystem.runtime.store.journal_counts()).total == 1
