"""A reporter who reported by email is confirmed by having sent it: no code, the coordinator's verification
reaches their mailbox at once (the system's reports SMTP listener in, the email channel out, both aiosmtpd)."""

from __future__ import annotations

from tests.conftest import eventually
from tests.feeds.citizen.updates.test_status_messages import act, incident_of, row
from tests.feeds.messaging.test_mail import SENDER, mail, mailsystem, peer, send  # noqa: F401
from tests.feeds.messaging.test_sms import tracking_id


async def test_an_emailed_report_gets_its_status_without_a_confirmation_code(mailsystem, peer):  # noqa: F811
    await send(mailsystem, mail("Smoke at Hawthorne and 20th", "Thick smoke from a backyard."))
    [answer] = await eventually(lambda: peer.mails)
    report_id = tracking_id(answer.get_body(("plain",)).get_content())
    u = await eventually(lambda: row(mailsystem, report_id))
    assert u.confirmed and u.code is None
    await act(mailsystem, await incident_of(mailsystem, report_id), "verify")
    await eventually(lambda: len(peer.mails) == 2)
    status = peer.mails[1]
    assert status["To"] == SENDER and status["Subject"] == "Your report: verified"
    assert f"https://report.example.org/r/{report_id}" in status.get_body(("plain",)).get_content()
    assert status["List-Unsubscribe"].startswith(f"<https://report.example.org/api/v1/reports/{report_id}/unsubscribe?sig=")
