"""The SMS gateways' inbound webhooks: Kannel's ``GET /api/v1/channels/sms/inbound`` (issue 11's path, signed by
``sig``) and the Twilio-shaped ``POST /api/v1/channels/sms/twilio`` (``X-Twilio-Signature``). Both answer with
the reply the gateway sends back: STOP/START/HELP first, else the citizen report conversation."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, Response

from alerts.delivery.channels import sms
from emergency.errors import Unavailable
from feeds.messaging.service import MessageDesk
from feeds.messaging.sms import MAX_TEXT, TWILIO_PATH, kannel_reply, twilio_reply

router = APIRouter(tags=["channels"])
SIGNED = {403: {"description": "the request is not signed by our gateway"}}


def _desk(request: Request) -> MessageDesk:
    desk = request.app.state.runtime.messaging
    if desk is None:
        raise Unavailable("from", "the report intake by SMS is not running in this process")
    return desk


@router.get(sms.INBOUND_PATH, response_class=PlainTextResponse, responses=SIGNED)
async def sms_inbound(request: Request, sig: str = Query(..., pattern=sms.SIG_PATTERN),
                      sender: str = Query(..., alias="from", max_length=32),
                      text: str = Query("", max_length=MAX_TEXT),
                      message_id: str | None = Query(None, alias="id", max_length=64,
                                                     description="Kannel's message id (%I): a retry is the same report")
                      ) -> str:
    """An SMS sent to our number (Kannel's ``get-url``); the answer's text is the reply Kannel sends back."""
    return await kannel_reply(desk=_desk(request), opt_outs=request.app.state.runtime.sms_opt_outs, sig=sig,
                              sender=sender, text=text, message_id=message_id)


TWILIO_FORM = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["From", "MessageSid"], "additionalProperties": {"type": "string"},
    "properties": {"From": {"type": "string", "description": "the sender's number (E.164)"},
                   "To": {"type": "string", "description": "our number"},
                   "Body": {"type": "string", "maxLength": MAX_TEXT, "description": "the text"},
                   "MessageSid": {"type": "string", "description": "the provider's message id: a retry is the "
                                  "same report"}}}}}}}


@router.post(TWILIO_PATH, response_class=Response, openapi_extra=TWILIO_FORM,
             responses={**SIGNED, 200: {"content": {"text/xml": {"schema": {"type": "string"}}},
                                        "description": "TwiML: the reply the provider sends"}})
async def sms_inbound_twilio(request: Request,
                             signature: str = Header(..., alias="X-Twilio-Signature", max_length=256)
                             ) -> Response:
    """An SMS sent to our number through a Twilio-shaped provider (form ``From``, ``To``, ``Body``,
    ``MessageSid``); the answer is TwiML with the reply."""
    desk = _desk(request)
    form = await request.form()
    url = f"{desk.settings.public_base_url()}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    answer = await twilio_reply(desk=desk, opt_outs=request.app.state.runtime.sms_opt_outs, url=url, form=items,
                                signature=signature)
    return Response(answer, media_type="text/xml")
