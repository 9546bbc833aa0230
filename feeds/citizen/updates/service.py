"""Decisions of the reporter's status messages, no I/O: a report's public status from its incident, whether a
change is a new status version and when its message may go (the rate bound), the texts in the reporter's
language (``emergency.i18n``: en, es, ko) and the code check.

Rules: a contact given on the web, the API or Open311 gets a 6-digit confirmation code first (24 h, 5 tries,
the subscriptions' design: ``alerts.subscriptions.service``) and nothing else until it is confirmed; a report sent
by SMS (or by email) from that number (address) is confirmed by being sent. Each status version is one message
(ledger key ``reporter-status:<report id>:<version>``); changes within ``reporter_update_interval_s`` of the
last message wait and are coalesced, so only the latest state goes out.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from alerts.delivery.models import Rendered
from alerts.subscriptions.service import CODE_TTL, MAX_CODE_ATTEMPTS, new_code
from emergency.cop.incidents.correlate import incident_from_envelope
from emergency.cop.incidents.service import public_replies, public_state
from emergency.errors import ValidationFailed
from emergency.events import Envelope
from emergency.i18n import translate
from feeds.citizen.contacts import ReporterContact
from feeds.citizen.updates.models import Snapshot, Updates

PERSON_PREFIX = "reporter"  # a Notice's person: "reporter:<report id>" (alerts.delivery.notices.RoutedDirectory)
CONFIRM_CHANNEL, STATUS_CHANNEL = "confirm", "status"  # the Notice's channel id: which message it is
IMPLICIT = {"citizen_sms": "sms", "citizen_email": "email"}  # reported from the contact itself: confirmed
REPLY_CHARS = 300  # of a public reply quoted in a message

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "confirm.headline": "Confirm status messages for your report",
        "confirm.text": "Your code is {code}. Enter it on your report's page within 24 hours to get a message "
                        "when its status changes: {link}",
        "status.headline": "Your report: {status}",
        "status.received": "received", "status.under review": "under review", "status.verified": "verified",
        "status.dismissed": "dismissed", "status.resolved": "resolved",
        "status.text": "Your report is now {status}.",
        "status.reason": "Reason: {reason}.",
        "status.reply": "Reply from the coordinators: {reply}",
        "status.link": "Follow it here: {link}",
        "stop": "Reply STOP to end",
    },
    "es": {
        "confirm.headline": "Confirme los mensajes de estado de su reporte",
        "confirm.text": "Su código es {code}. Escríbalo en la página de su reporte en 24 horas para recibir un "
                        "mensaje cuando cambie su estado: {link}",
        "status.headline": "Su reporte: {status}",
        "status.received": "recibido", "status.under review": "en revisión", "status.verified": "verificado",
        "status.dismissed": "descartado", "status.resolved": "resuelto",
        "status.text": "Su reporte ahora está {status}.",
        "status.reason": "Motivo: {reason}.",
        "status.reply": "Respuesta de los coordinadores: {reply}",
        "status.link": "Sígalo aquí: {link}",
        "stop": "Responda STOP para terminar",
    },
    "ko": {
        "confirm.headline": "신고 상태 알림 확인",
        "confirm.text": "확인 코드는 {code}입니다. 24시간 안에 신고 페이지에 입력하면 상태가 바뀔 때 알림을 "
                        "받습니다: {link}",
        "status.headline": "신고 상태: {status}",
        "status.received": "접수됨", "status.under review": "검토 중", "status.verified": "확인됨",
        "status.dismissed": "기각됨", "status.resolved": "해결됨",
        "status.text": "신고가 이제 {status} 상태입니다.",
        "status.reason": "사유: {reason}.",
        "status.reply": "조정관의 답변: {reply}",
        "status.link": "여기에서 확인하세요: {link}",
        "stop": "중지하려면 STOP 회신",
    },
}


def person(report_id: str) -> str:
    """The delivery path's person id of a report's reporter."""
    return f"{PERSON_PREFIX}:{report_id}"


def report_of(person_id: str) -> str | None:
    """The report id of a person id (None when it is not a reporter's)."""
    prefix, _, rid = person_id.partition(":")
    return rid if prefix == PERSON_PREFIX and rid else None


def confirm_key(report_id: str) -> str:
    """The ledger key (``alert_version``) of the report's confirmation message: one per report."""
    return f"reporter-confirm:{report_id}"


def status_key(report_id: str, version: int) -> str:
    """The ledger key of status version ``version`` of the report: one message per (report, version)."""
    return f"reporter-status:{report_id}:{version}"


def parse_key(key: str) -> tuple[str, str, int] | None:
    """``(kind, report id, version)`` of a ledger key made above (version 0 for a confirmation)."""
    kind, _, rest = key.partition(":")
    if kind == "reporter-confirm" and rest:
        return "confirm", rest, 0
    rid, _, n = rest.rpartition(":")
    if kind == "reporter-status" and rid and n.isdigit():
        return "status", rid, int(n)
    return None


def snapshot_of(incident: Envelope, *, at: datetime) -> Snapshot:
    """The public status its reports have from an incident on ``cop.incidents`` at ``at``."""
    inc = incident_from_envelope(incident)
    status, reason = public_state(inc, at=at)
    replies = public_replies(inc.audit)
    return Snapshot(status=status, reason=reason, replies=len(replies),
                    reply=replies[-1]["text"][:REPLY_CHARS] if replies else None)


def first_updates(*, contact: ReporterContact, source_type: str, now: datetime) -> Updates:
    """The state of a report just seen with a contact: confirmed when it came from that contact (SMS, email),
    otherwise with a fresh confirmation code."""
    if IMPLICIT.get(source_type) == contact.kind:
        return Updates(report_id=contact.report_id, confirmed=True, created_at=now)
    return Updates(report_id=contact.report_id, code=new_code(), code_expires_at=now + CODE_TTL, created_at=now)


def advance(u: Updates, *, snapshot: Snapshot, interval_s: float, now: datetime) -> Updates | None:
    """The state after the report's incident shows ``snapshot``: a new version when it differs from the last
    seen, due at once or when the rate bound allows; None when nothing changed."""
    if snapshot == u.status:
        return None
    return schedule(u.model_copy(update={"version": u.version + 1, "status": snapshot}), interval_s=interval_s,
                    now=now)


def schedule(u: Updates, *, interval_s: float, now: datetime) -> Updates:
    """``due_at`` for the latest version: none when confirmed is missing or it was queued already; else now, or
    ``interval_s`` after the last message."""
    if not u.confirmed or u.version <= u.sent_version:
        return u.model_copy(update={"due_at": None})
    earliest = u.sent_at + timedelta(seconds=interval_s) if u.sent_at else now
    return u.model_copy(update={"due_at": max(now, earliest)})


def check_code(u: Updates | None, *, code: str, now: datetime) -> Updates:
    """The state once ``code`` is checked (constant time; 5 tries; 24 h): confirmed, or one more attempt
    counted (the caller saves it, then raises ``ValidationFailed`` from :func:`refusal`)."""
    if u is None or u.confirmed:
        return u  # type: ignore[return-value]
    if u.code is None or u.code_expires_at is None or u.code_expires_at <= now:
        raise ValidationFailed("code", "the code has expired; make the report again with the contact for a new one")
    if u.attempts >= MAX_CODE_ATTEMPTS:
        raise ValidationFailed("code", f"{MAX_CODE_ATTEMPTS} wrong codes were tried; make the report again with "
                                       "the contact for a new one")
    if hmac.compare_digest(code.strip().encode(), u.code.encode()):
        return u.model_copy(update={"confirmed": True, "code": None, "code_expires_at": None, "attempts": 0})
    return u.model_copy(update={"attempts": u.attempts + 1})


def refusal(u: Updates) -> ValidationFailed:
    """The 422 of a wrong code, with the tries left."""
    return ValidationFailed("code", f"not the code that was sent ({MAX_CODE_ATTEMPTS - u.attempts} tries left)")


def confirmation_message(*, code: str, language: str, link: str, sms: bool) -> Rendered:
    """The confirmation message (the tracking link comes last, the code is the only run of 6 digits)."""
    text = translate(CATALOGUE, "confirm.text", language, code=code, link=link)
    if sms:
        text = f"{text} {translate(CATALOGUE, 'stop', language)}"
    return Rendered(headline=translate(CATALOGUE, "confirm.headline", language), wea_short=text, wea_long=text,
                    cap_xml="", geojson={}, link=link)


def status_message(*, snapshot: Snapshot, language: str, link: str, sms: bool) -> Rendered:
    """The message of one status version: the status, a dismissal's public reason, the latest public reply,
    the tracking link; for SMS the way out ("Reply STOP")."""
    status = translate(CATALOGUE, f"status.{snapshot.status}", language)
    parts = [translate(CATALOGUE, "status.text", language, status=status)]
    if snapshot.reason:
        parts.append(translate(CATALOGUE, "status.reason", language, reason=snapshot.reason))
    if snapshot.reply:
        parts.append(translate(CATALOGUE, "status.reply", language, reply=" ".join(snapshot.reply.split())))
    parts.append(translate(CATALOGUE, "status.link", language, link=link))
    if sms:
        parts.append(translate(CATALOGUE, "stop", language))
    text = " ".join(parts)
    return Rendered(headline=translate(CATALOGUE, "status.headline", language, status=status), wea_short=text,
                    wea_long=text, cap_xml="", geojson={}, link=link)
