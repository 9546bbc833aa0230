"""Inbound SMS, the one place that decides what a text is: issue 11's STOP/START/HELP first
(``alerts.delivery.channels.sms.keyword_reply``), then a citizen report conversation (``service.MessageDesk``).

Two gateway shapes: Kannel's ``get-url`` (``from``, ``text``, ``id`` = Kannel's ``%I``; signed by the static
``sig`` of ``sms.inbound_url``), answered with the reply as plain text, which Kannel sends back to the phone;
and Twilio's webhook form (``From``, ``To``, ``Body``, ``MessageSid``; ``X-Twilio-Signature``), answered with
TwiML ``<Response><Message>``, which the provider sends. Either way the reply leaves through the gateway that
brought the message, as issue 11's STOP answers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from alerts.delivery.channels import sms, sms_twilio
from emergency.errors import ValidationFailed
from emergency.events import utcnow
from feeds.messaging.service import Inbound, MessageDesk

MAX_TEXT = 1600  # characters of one inbound text (Kannel's and the provider's concatenated maximum)
TWILIO_PATH = "/api/v1/channels/sms/twilio"  # the provider's inbound webhook (POST, form-encoded)


async def sms_reply(*, desk: MessageDesk, opt_outs: sms.OptOuts | None, sender: str, text: str,
                    message_id: str | None) -> str:
    """The reply to one inbound SMS ("" = none): a keyword's answer (``opt_outs``: the subscription repository),
    else the report conversation's."""
    number = sms.e164(sender)
    keyword = await sms.keyword_reply(number=number, text=text, opt_outs=opt_outs,
                                      public_url=desk.settings.public_base_url())
    if keyword is not None:
        return keyword
    if not text.strip():
        return ""
    answer = await desk.answer(message=Inbound(channel="sms", sender=number, text=text[:MAX_TEXT],
                                               message_id=message_id), now=utcnow())
    return answer.text


async def kannel_reply(*, desk: MessageDesk, opt_outs: sms.OptOuts | None, sig: str, sender: str, text: str,
                       message_id: str | None) -> str:
    """Kannel's ``get-url`` call: the static signature checked (403 ``sig``), then :func:`sms_reply`."""
    sms.check_sig(key=sms.callback_key(desk.settings), purpose="inbound", value="", sig=sig)
    return await sms_reply(desk=desk, opt_outs=opt_outs, sender=sender, text=text, message_id=message_id)


async def twilio_reply(*, desk: MessageDesk, opt_outs: sms.OptOuts | None, url: str,
                       form: Iterable[tuple[str, str]], signature: str | None) -> str:
    """A Twilio-shaped webhook: its signature checked (403 ``X-Twilio-Signature``), the form read (422 naming a
    missing field), then :func:`sms_reply`; the answer is TwiML."""
    params = list(form)
    sms_twilio.check_signature(settings=desk.settings, url=url, params=params, given=signature)
    fields = dict(params)
    for name in ("From", "MessageSid"):
        if not fields.get(name):
            raise ValidationFailed(name, "missing from the webhook form")
    body = fields.get("Body", "")
    if len(body) > MAX_TEXT:
        raise ValidationFailed("Body", f"longer than {MAX_TEXT} characters")
    reply = await sms_reply(desk=desk, opt_outs=opt_outs, sender=fields["From"], text=body,
                            message_id=fields["MessageSid"][:64])
    return twiml(reply)


def twiml(reply: str) -> str:
    """A TwiML answer: one ``<Message>`` with ``reply``, or an empty ``<Response/>`` (no reply)."""
    inner = f"<Message>{escape(reply)}</Message>" if reply else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
