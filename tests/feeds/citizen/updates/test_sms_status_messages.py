"""Status messages to a reporter who reported by SMS, end to end through a real Kannel (bearerbox, smsbox,
fakesmsc): the number that sent the report is confirmed by sending it, so a coordinator's verification reaches
the phone at once, in the reporter's language, with the tracking link and "STOP"; STOP from that number stops
the status messages too (not only alert subscriptions)."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote_to_bytes

import pytest

from alerts.delivery.channels import sms
from alerts.delivery.models import ChannelType
from alerts.delivery.worker import ChannelRunner
from emergency.metrics import Registry
from feeds.citizen.updates.service import STATUS_CHANNEL, status_key
from tests.alerts.delivery.channels.kannel import running_kannel
from tests.alerts.delivery.channels.test_sms import settings_for
from tests.conftest import eventually, running_system
from tests.feeds.citizen.updates.test_status_messages import act, incident_of, ledger_row, seen_version
from tests.feeds.messaging.test_sms import tracking_id

NUMBER = "+15035550143"


@pytest.fixture
async def texting(broker, sqlite_url, tmp_path):
    """The system (status messages without a rate bound), a Kannel calling its inbound URL, and the SMS channel's
    worker sending through that Kannel."""
    async with running_system(broker, sqlite_url, tmp_path, reporter_update_interval_s=0) as system:
        async with running_kannel(tmp_path / "kannel", get_url=sms.inbound_url(settings_for(system))) as kannel:
            channel = sms.from_settings(settings_for(system, sms_gateway_url=kannel.gateway_url, sms_from="12345"))
            assert channel is not None and channel.type is ChannelType.sms
            runner = ChannelRunner(settings=system.settings, bootstrap=system.runtime.bootstrap, channel=channel,
                                   store=system.runtime.store, directory=system.runtime.directory,
                                   metrics=Registry())
            task = asyncio.create_task(runner.run())
            try:
                yield system, kannel
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await channel.close()


def to_phone(kannel) -> list[str]:
    """The texts the phone got from the system, each whole: fakesmsc prints a UCS-2 message (Spanish accents) as
    its concatenated parts (``udh <header> data <UTF-16BE, URL-encoded>``), joined here."""
    texts: list[str] = []
    for message in kannel.messages():
        _, to, kind, rest = message.split(" ", 3)
        if to != NUMBER:
            continue
        if kind != "udh":
            texts.append(rest)
            continue
        header, _, data = rest.partition(" data ")
        part = unquote_to_bytes(header)[-1]  # the part number (UDH concatenation header)
        text = unquote_to_bytes(data).decode("utf-16-be").replace("+", " ")  # fakesmsc prints spaces as +
        if part == 1:
            texts.append(text)
        else:
            texts[-1] += text
    return texts


async def test_an_sms_reporter_gets_the_verification_in_spanish_and_stop_ends_it(texting):
    system, kannel = texting
    [reply] = await kannel.inject(NUMBER, "12345", "humo en Hawthorne y 20th", expect_reply=True)
    report_id = tracking_id(reply)
    incident = await incident_of(system, report_id)

    await act(system, incident, "verify")

    async def status_texts():
        texts = to_phone(kannel)
        return texts if texts and texts[-1].endswith("terminar") else None  # every part arrived

    [text] = await eventually(status_texts)
    assert text.startswith("Su reporte ahora está verificado.")
    assert f"/r/{report_id}" in text and text.endswith("Responda STOP para terminar")
    assert NUMBER not in (await system.http.get(f"/api/v1/reports/{report_id}/status")).text

    # STOP from that number: the next change is seen and sent to nobody
    await kannel.inject(NUMBER, "12345", "STOP", expect_reply=True)
    await act(system, incident, "resolve")
    u = await seen_version(system, report_id, 2)
    assert u.sent_version == 1
    assert await ledger_row(system, status_key(report_id, 2), report_id, STATUS_CHANNEL) is None
    assert len(to_phone(kannel)) == 1
