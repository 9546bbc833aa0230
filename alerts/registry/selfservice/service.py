"""Decisions of the public self-registration: who registered (self or caregiver), the dated consent of the
checkbox, when an entry is active (every contact confirmed), the holder's view (contacts masked), and the
confirmation message with its code in the registrant's language. No I/O here.

Tokens, codes and masks are the subscriptions' own (``alerts.subscriptions.service``): one way each.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.delivery.models import Rendered
from alerts.registry.models import CaregiverIn, LocationOut, Registrant, Source
from alerts.registry.selfservice.models import RegistrationOut
from alerts.subscriptions.models import StoredChannel
from alerts.subscriptions.service import channel_out
from emergency.errors import ValidationFailed
from emergency.i18n import negotiate, translate

SELF_CREATOR = "self-registration"   # Registrant.created_by of a self-registration (no officer token)
CONFIRM_PREFIX = "regconfirm:"       # the ledger alert_version of a confirmation notice
PAGE_PATH = "/registry"

MESSAGES = {
    "en": {"headline": "Confirm your emergency registration",
           "text": "You (or someone for you) registered for help in an emergency. Your confirmation code: {code}. "
                   "Type it on {link} to turn the registration on.",
           "short": "Emergency registry: your confirmation code {code}",
           "instruction": "If you did not register, ignore this message: the registration stays off and is "
                          "deleted."},
    "es": {"headline": "Confirme su registro para emergencias",
           "text": "Usted (u otra persona por usted) se registró para recibir ayuda en una emergencia. Su código de "
                   "confirmación: {code}. Escríbalo en {link} para activar el registro.",
           "short": "Registro de emergencia: su código de confirmación {code}",
           "instruction": "Si usted no se registró, ignore este mensaje: el registro queda inactivo."},
    "ko": {"headline": "비상 등록을 확인하세요",
           "text": "귀하(또는 다른 사람이 귀하를 대신하여)가 비상시 도움을 받기 위해 등록했습니다. 확인 코드: {code}. "
                   "{link} 에 입력하면 등록이 활성화됩니다.",
           "short": "비상 등록: 확인 코드 {code}",
           "instruction": "등록하지 않으셨다면 이 메시지를 무시하세요. 등록은 비활성 상태로 남습니다."},
}


def source_of(*, registered_by: str, caregiver: CaregiverIn | None) -> Source:
    """``self`` or ``caregiver``; a caregiver registering someone must say who they are (``caregiver``)."""
    if registered_by == "caregiver" and caregiver is None:
        raise ValidationFailed("caregiver", "required when a caregiver registers someone: their name (and phone)")
    return "caregiver" if registered_by == "caregiver" else "self"


def consent_at(*, consent: bool, now: datetime) -> datetime:
    """The date of the explicit consent (the checkbox, ticked now); refused unless ticked."""
    if consent is not True:
        raise ValidationFailed("consent", "must be true: nobody is registered without their (or their caregiver's) "
                                          "explicit consent")
    return now


def unconfirmed(channels: list[StoredChannel]) -> list[str]:
    """The channel ids still waiting for their code."""
    return [c.channel_id for c in channels if not c.confirmed]


def unconfirmed_expiry(reg: Registrant, *, ttl_s: float) -> datetime | None:
    """When a registration that was never active is erased if still unconfirmed; None once it was active."""
    return reg.created_at + timedelta(seconds=ttl_s) if reg.awaiting_first_confirmation else None


def registration_out(reg: Registrant, *, unconfirmed_ttl_s: float) -> RegistrationOut:
    """The holder's own view: everything they gave, contacts masked as subscriptions mask them."""
    return RegistrationOut(id=reg.id, status=reg.status, source=reg.source, name=reg.name,
                           location=LocationOut(label=reg.location_label, geo_precision=reg.geo_precision,
                                                lat=reg.lat, lon=reg.lon),
                           needs=reg.needs, language=reg.language, channels=[channel_out(c) for c in reg.channels],
                           pending_confirmation=unconfirmed(reg.channels),
                           unconfirmed_expires_at=unconfirmed_expiry(reg, ttl_s=unconfirmed_ttl_s),
                           caregiver=reg.caregiver,
                           consent_at=reg.consent_at, created_at=reg.created_at, updated_at=reg.updated_at)


def confirm_key(*, registrant_id: str, channel_id: str, version: int) -> str:
    """The ledger ``alert_version`` of one confirmation notice (one per channel and entry version)."""
    return f"{CONFIRM_PREFIX}{registrant_id}:{channel_id}:{version}"


def confirm_target(key: str) -> tuple[str, str]:
    """(registrant id, channel id) of a confirmation notice's key."""
    rid, _, rest = key.removeprefix(CONFIRM_PREFIX).partition(":")
    return rid, rest.rpartition(":")[0]


def confirmation_message(*, reg: Registrant, code: str, base: str) -> Rendered:
    """The confirmation message: short, plain, the code once, in the registrant's language (en, es, ko)."""
    lang = negotiate([reg.language] if reg.language else [])
    link = base.rstrip("/") + PAGE_PATH
    text = translate(MESSAGES, "text", lang, code=code, link=link)
    return Rendered(headline=translate(MESSAGES, "headline", lang), description=None,
                    instruction=translate(MESSAGES, "instruction", lang),
                    wea_short=translate(MESSAGES, "short", lang, code=code), wea_long=text, cap_xml="", geojson={},
                    link=link)
