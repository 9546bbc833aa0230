"""The email channel against a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from alerts.cap.validate import check_schema
from alerts.cap.xml import parse_xml, read_alert
from alerts.delivery.channels.email import EmailChannel, from_settings
from alerts.delivery.models import ChannelType, SendFailed
from emergency.config import Settings
from tests.alerts.delivery.channels.messages import contact, free_port, job, rendered

UNSUBSCRIBE = "http://127.0.0.1:8000/api/v1/subscriptions/sub-1/unsubscribe?t=abc"


class Sink:
    """An aiosmtpd handler that keeps every mail and answers DATA with the next scripted reply."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.replies: list[str] = []
        self.rcpt_replies: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.pop(0)
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 2.0.0 Ok: queued as Q1234"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


def channel(port: int) -> EmailChannel:
    channel = from_settings(Settings(smtp_url=f"smtp://127.0.0.1:{port}", public_url="https://alerts.example.org"))
    assert channel is not None
    return channel


async def test_a_delivery_arrives_as_text_html_and_cap_with_message_id_and_one_click_unsubscribe(smtp):
    sink, port = smtp
    to = contact(ChannelType.email, address="ana@example.org", unsubscribe_url=UNSUBSCRIBE)
    receipt = await channel(port).send(job(ChannelType.email, delivery_id="ab12"), to, rendered())
    assert receipt.state == "sent" and receipt.remote_id and "Q1234" in receipt.remote_id
    assert receipt.delivery_id == "ab12" and receipt.channel is ChannelType.email
    [mail] = sink.mails
    assert mail["To"] == "ana@example.org" and mail["From"] == "alerts@alerts.example.org"
    assert mail["Message-ID"] == "<ab12@alerts.example.org>"
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == "Severe Alert: Flash flood warning <Johnson Creek> & Foster Rd"
    text = mail.get_body(("plain",)).get_content()
    page = mail.get_body(("html",)).get_content()
    assert "Johnson Creek is over its banks" in text and "http://127.0.0.1:8000/api/v1/alerts/alert:one.xml" in text
    assert "&lt;Johnson Creek&gt; &amp; Foster Rd" in page and "&lt;b&gt;now&lt;/b&gt;" in page
    assert "<b>" not in page and "<Johnson" not in page
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/cap+xml" and attachment.get_filename() == "alert.xml"
    cap = attachment.get_content()
    cap = cap if isinstance(cap, bytes) else cap.encode("utf-8")
    assert check_schema(parse_xml(cap), "1.2") == []
    assert read_alert(cap).identifier == "KAR0-0306112239-SW"


async def test_a_confirmation_is_the_texts_alone(smtp):
    sink, port = smtp
    to = contact(ChannelType.email, address="ana@example.org", unsubscribe_url=UNSUBSCRIBE)
    message = rendered(headline="Confirm your alert subscription", description="Your code is 4815162",
                       wea_long=None, wea_short="Confirm your alert subscription", instruction=None, cap_xml="")
    await channel(port).send(job(ChannelType.email, msg_type="Confirmation"), to, message)
    [mail] = sink.mails
    assert mail["Subject"] == "Confirm your alert subscription"
    assert list(mail.iter_attachments()) == []
    assert "Your code is 4815162" in mail.get_body(("plain",)).get_content()


async def test_a_temporary_refusal_is_retried_and_the_retry_is_the_same_message(smtp):
    sink, port = smtp
    sink.replies = ["451 4.3.0 try again later"]
    to = contact(ChannelType.email, address="ana@example.org")
    ch = channel(port)
    with pytest.raises(SendFailed) as failed:
        await ch.send(job(ChannelType.email, delivery_id="ab12"), to, rendered())
    assert failed.value.retry is True and "451" in failed.value.reason and "ana@" not in failed.value.reason
    receipt = await ch.send(job(ChannelType.email, delivery_id="ab12"), to, rendered())
    assert receipt.state == "sent"
    [mail] = sink.mails
    assert mail["Message-ID"] == "<ab12@alerts.example.org>"
    assert "List-Unsubscribe" not in mail  # the contact gave no way out, so none is invented


async def test_a_permanent_refusal_is_not_retried(smtp):
    sink, port = smtp
    sink.rcpt_replies = ["550 5.1.1 no such user"]
    with pytest.raises(SendFailed) as failed:
        await channel(port).send(job(ChannelType.email), contact(ChannelType.email, address="x@example.org"),
                                 rendered())
    assert failed.value.retry is False and "x@example.org" not in failed.value.reason
    sink.replies = ["554 5.7.1 rejected"]
    with pytest.raises(SendFailed) as failed:
        await channel(port).send(job(ChannelType.email), contact(ChannelType.email, address="x@example.org"),
                                 rendered())
    assert failed.value.retry is False and "554" in failed.value.reason
    assert sink.mails == []


async def test_an_unreachable_server_is_retried():
    with pytest.raises(SendFailed) as failed:
        await channel(free_port()).send(job(ChannelType.email), contact(ChannelType.email, address="a@example.org"),
                                        rendered())
    assert failed.value.retry is True


def test_the_channel_is_off_without_a_server_url():
    assert from_settings(Settings(smtp_url="")) is None
    with pytest.raises(ValueError, match="EMERGENCY_SMTP_URL"):
        from_settings(Settings(smtp_url="http://mail.example.org"))
