"""Open311 GeoReport v2 decisions: the catalogue, reading a POST requests form, submitting it as a citizen report,
the public view of reports, their open/closed status and FixMyStreet's status updates.

- **One intake.** A service request is a citizen report: it is placed, built and journaled by
  ``feeds.citizen.service.submit_report`` into ``raw.citizen``, like ``POST /api/v1/reports``;
  ``service_request_id`` is the report's event id and the answer carries its tracking link.
- **Who sends it.** Without ``api_key`` a request is an anonymous citizen report (counted per client
  address). With one, the key must be an active token of role ``partner`` (a FixMyStreet or Mark-a-Spot
  server sending for its users): its requests are counted per key (``EMERGENCY_INTAKE_PARTNER_RATE``) and
  tagged with the application's name; any other key is 403 ``api_key``.
- **Private fields** (``email``, ``phone``, ``first_name``, ``last_name``, ``device_id``, ``account_id``,
  ``media_url``) go under ``attributes.private.open311``; the email (else the phone) is the report's
  ``contact`` for status messages. ``media_url`` is checked by the outbound-URL guard's shape rules and kept
  as a private reference: the server never fetches it.
- **Status** (``status``): ``open`` while the report's public status is received, under review or verified;
  ``closed`` once dismissed or resolved (``emergency.cop.incidents.service.report_status``, which follows a
  merged incident to the one it was merged into). ``status_notes`` is that public status (with the public
  reason of a dismissal). Coordinators' state changes are FixMyStreet's ``servicerequestupdates``.
- **Errors** are ``emergency.errors`` refusals naming the field; the views write them in the spec's format.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emergency.auth.models import TokenRecord
from emergency.auth.tokens import Role, lookup_token, token_id
from emergency.cop.incidents.correlate import incident_from_envelope
from emergency.cop.incidents.service import report_status
from emergency.errors import Forbidden, NotFound, ValidationFailed
from emergency.events import Envelope, Kind, new_id
from emergency.geometry import coordinate_from_text, representative_point
from emergency.netguard import check_url_shape
from emergency.store.base import Cursor, EventQuery, Store
from emergency.store.errors import store_unreachable_is_store_error
from emergency.text import xml_text_problem
from feeds.citizen.contacts import ContactRepository
from feeds.citizen.models import CitizenReportIn
from feeds.citizen.service import submit_report, tracking_url
from feeds.intake import Intake, idempotent_id
from feeds.open311.models import (
    CATALOGUE,
    MAX_ADDRESS,
    MAX_ATTRIBUTES,
    MAX_DESCRIPTION,
    MAX_EMAIL,
    MAX_FIELDS,
    MAX_IDS,
    MAX_PHONE,
    MAX_REQUESTS,
    MAX_SHORT,
    MAX_SPAN_DAYS,
    Discovery,
    Endpoint,
    RequestCreated,
    RequestIn,
    RequestUpdate,
    Service,
    ServiceDefinition,
    ServiceRequest,
    TokenAnswer,
)

CHANGESET = "2026-12-01 00:00"  # when the catalogue or this endpoint last changed (discovery's changeset)
CLOSED_STATUSES = frozenset({"dismissed", "resolved"})  # public report statuses that are Open311 "closed"
PRIVATE_FIELDS = {"email": MAX_EMAIL, "phone": MAX_PHONE, "first_name": MAX_SHORT, "last_name": MAX_SHORT,
                  "device_id": MAX_SHORT, "account_id": MAX_SHORT}
SINGLE_FIELDS = ("api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id",
                 "description", "media_url", *PRIVATE_FIELDS)
STATE_ACTIONS = {"verify": ("open", "verified"), "reopen": ("open", "reopened"), "resolve": ("closed", "resolved"),
                 "dismiss": ("closed", "dismissed")}  # coordinator actions that change a report's public status
SCAN_LIMIT = 10_000  # most reports (or incidents) one GET reads through to answer
PAGE = 1000


# ------------------------------------------------------------------ catalogue and discovery


def jurisdiction_of(*, configured: str, base_url: str) -> str:
    """The one jurisdiction_id this endpoint serves: the setting, else the host name of the public URL."""
    return configured or (urlsplit(base_url).hostname or "localhost")


def check_jurisdiction(*, given: str | None, ours: str) -> None:
    """A jurisdiction_id other than ours is 404 naming it (none given is fine: this endpoint serves one)."""
    if given and given != ours:
        raise NotFound("jurisdiction_id", f"this endpoint serves only jurisdiction_id {ours!r}")


def discovery(*, base_url: str, jurisdiction: str) -> Discovery:
    """The Service Discovery document of this endpoint."""
    return Discovery(
        changeset=CHANGESET,
        contact=f"The operators of this emergency information system ({jurisdiction}); API documentation at "
                f"{base_url}/docs",
        key_service="Partner applications get an api_key (a token of role partner) from this system's "
                    "administrators; without one, a request is an anonymous citizen report.",
        endpoints=[Endpoint(url=f"{base_url}/open311/v2", changeset=CHANGESET,
                            formats=["text/xml", "application/json"])])


def services() -> list[Service]:
    """The service list: one service per citizen report category."""
    return [service for service, _ in CATALOGUE.values()]


def _catalogue_entry(code: str, *, field: str = "service_code") -> tuple[Service, list[Any]]:
    for service, attributes in CATALOGUE.values():
        if service.service_code == code:
            return service, attributes
    raise NotFound(field, f"no service {code[:64]!r}; the services are {', '.join(s.service_code for s in services())}")


def service_definition(*, service_code: str) -> ServiceDefinition:
    """The questions of one service (404 naming ``service_code`` for an unknown one)."""
    _, attributes = _catalogue_entry(service_code)
    return ServiceDefinition(service_code=service_code, attributes=attributes)


# ------------------------------------------------------------------ POST requests


def parse_form(*, body: bytes, content_type: str | None, max_bytes: int) -> list[tuple[str, str]]:
    """The fields of an ``application/x-www-form-urlencoded`` UTF-8 body, in order; refusals name the part at fault."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise ValidationFailed("Content-Type", "POST requests takes application/x-www-form-urlencoded, as the "
                                               "GeoReport v2 spec says")
    if len(body) > max_bytes:
        raise ValidationFailed("body", f"larger than {max_bytes} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise ValidationFailed("body", "not UTF-8 (the spec requires UTF-8 everywhere)") from None
    except ValueError:
        raise ValidationFailed("body", f"more than {MAX_FIELDS} fields") from None
    for position, (name, value) in enumerate(pairs, start=1):
        if problem := xml_text_problem(name):
            raise ValidationFailed(f"field {position}", f"its name {problem}")
        if problem := xml_text_problem(value):
            raise ValidationFailed(name[:64], problem)
    return pairs


def _attribute_code(name: str) -> str | None:
    """``CODE`` of ``attribute[CODE]`` (or ``attribute[CODE][]``), else None."""
    if not name.startswith("attribute[") or "]" not in name:
        return None
    code, _, rest = name[len("attribute["):].partition("]")
    return code if code and rest in ("", "[]") else None


def _bounded(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValidationFailed(field, f"longer than {limit} characters")
    if problem := xml_text_problem(value):
        raise ValidationFailed(field, problem)
    return value


def _attribute_values(service_code: str, given: dict[str, list[str]]) -> dict[str, str | list[str]]:
    """The attribute answers checked against the service's questions; refusals name ``attribute[CODE]``."""
    _, questions = _catalogue_entry(service_code)
    known = {q.code: q for q in questions}
    out: dict[str, str | list[str]] = {}
    for code, values in given.items():
        field = f"attribute[{code[:64]}]"
        question = known.get(code)
        if question is None:
            raise ValidationFailed(field, f"not a question of service {service_code}", candidates=sorted(known))
        values = [v for v in values if v != ""]
        if not values:
            continue
        if question.datatype != "multivaluelist" and len(values) > 1:
            raise ValidationFailed(field, "takes one value")
        if question.datatype in ("singlevaluelist", "multivaluelist"):
            keys = [v.key for v in question.values or []]
            for value in values:
                if value not in keys:
                    raise ValidationFailed(field, "not one of the listed values", candidates=keys)
            out[code] = values if question.datatype == "multivaluelist" else values[0]
        elif question.datatype == "number":
            try:
                number = float(values[0])
            except ValueError:
                raise ValidationFailed(field, "must be a number") from None
            if not math.isfinite(number) or number < 0 or number > 1_000_000:
                raise ValidationFailed(field, "must be a number from 0 to 1000000")
            out[code] = values[0]
        else:
            out[code] = _bounded(field, values[0], MAX_SHORT if question.datatype == "string" else MAX_DESCRIPTION)
    return out


def form_value(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The first non-empty value of field ``name`` (api_key and jurisdiction_id are checked before the rest)."""
    return next((v.strip() for k, v in pairs if k == name and v.strip()), None)


@dataclass(frozen=True)
class FormRequest:
    """A POST requests form as understood: the request, and the api_key and jurisdiction_id it carried."""

    request: RequestIn
    api_key: str | None
    jurisdiction_id: str | None


def read_form(pairs: list[tuple[str, str]]) -> FormRequest:
    """Check every field of a POST requests form; ``ValidationFailed``/``NotFound`` naming the first one at fault.

    An empty value counts as not given (the spec's "optional"); a field given twice, a field the spec does not
    have, or a location that is not lat/long or address_string (this server has no address register, so
    ``address_id`` alone is refused) is refused, never guessed at.
    """
    single: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    count = 0
    for name, value in pairs:
        if name in SINGLE_FIELDS:
            if name in single:
                raise ValidationFailed(name, "given more than once")
            single[name] = value.strip()
        elif (code := _attribute_code(name)) is not None:
            count += 1
            if count > MAX_ATTRIBUTES:
                raise ValidationFailed("attribute", f"more than {MAX_ATTRIBUTES} attribute values")
            attributes.setdefault(code, []).append(value.strip())
        else:
            raise ValidationFailed(name[:64] or "body", "not a field of POST requests",
                                   candidates=[*SINGLE_FIELDS, "attribute[CODE]"])
    given = {k: v for k, v in single.items() if v != ""}
    code = given.get("service_code")
    if code is None:
        raise ValidationFailed("service_code", "is required (GET services lists them)")
    service, _ = _catalogue_entry(code)
    lat = lon = None
    if "lat" in given or "long" in given:
        missing = "long" if "long" not in given else "lat" if "lat" not in given else None
        if missing:
            raise ValidationFailed(missing, "give lat and long together")
        try:
            lat = coordinate_from_text(given["lat"], "lat")
            lon = coordinate_from_text(given["long"], "long")
        except ValueError as exc:
            field, _, reason = str(exc).partition(": ")
            raise ValidationFailed(field, reason) from None
    address = _bounded("address_string", given["address_string"], MAX_ADDRESS) if "address_string" in given else None
    if lat is None and address is None:
        if "address_id" in given:
            raise ValidationFailed("address_id", "this server has no address register; give lat and long, or an "
                                                 "address_string to geocode")
        raise ValidationFailed("lat", "a location is required: lat and long, or address_string")
    private = {name: _bounded(name, given[name], limit) for name, limit in PRIVATE_FIELDS.items() if name in given}
    if "address_id" in given:
        private["address_id"] = _bounded("address_id", given["address_id"], MAX_SHORT)
    if "media_url" in given:
        check_url_shape(given["media_url"], field="media_url")  # a reference only: never fetched
        private["media_url"] = given["media_url"]
    request = RequestIn(
        service_code=service.service_code, lat=lat, long=lon, address_string=address,
        description=_bounded("description", given.get("description", ""), MAX_DESCRIPTION),
        attributes=_attribute_values(service.service_code, attributes), private=private)
    return FormRequest(request=request, api_key=given.get("api_key"),
                       jurisdiction_id=_bounded("jurisdiction_id", given.get("jurisdiction_id", ""), MAX_SHORT) or None)


async def partner_for(*, store: Store, api_key: str | None) -> TokenRecord | None:
    """The partner application an api_key stands for; None without one; 403 naming ``api_key`` for any other key."""
    if api_key is None:
        return None
    with store_unreachable_is_store_error("the api_key cannot be checked"):
        record = await lookup_token(store, api_key[:512])
    if record is None:
        raise Forbidden("api_key", "unknown or revoked api_key; send none to report as an anonymous citizen")
    if Role.partner.value not in record.roles:
        raise Forbidden("api_key", "this key is not a partner application's (role partner)")
    return record


async def create_request(*, intake: Intake, limits: Any, form: FormRequest, partner: TokenRecord | None,
                         address: str, idempotency_key: str | None, base_url: str, now: datetime,
                         contacts: ContactRepository) -> RequestCreated:
    """Count the request against the intake limits, then submit it as a citizen report into ``raw.citizen``.

    The requester's email (else phone) goes to the private contact store (``feeds.citizen.contacts``) like the
    JSON API's contact; names, device and account ids and ``media_url`` are not kept (nothing personal is
    journaled)."""
    req = form.request
    contact = req.private.get("email") or req.private.get("phone")
    await limits.check(address=None if partner else address, partner=token_id(partner.token_hash) if partner else None,
                       contact=contact)
    report = CitizenReportIn(category=req.service_code, lat=req.lat, lon=req.long, text=req.description,
                             location_text=req.address_string, contact=contact)
    sender = f"open311-partner:{token_id(partner.token_hash)}" if partner else None
    event_id = idempotent_id("citizen", idempotency_key, sender=sender, payload=None if partner else req) \
        or new_id("citizen")
    open311: dict[str, Any] = {"service_code": req.service_code.value, "attributes": req.attributes}
    if partner:
        open311["application"] = partner.name
    accepted = await submit_report(intake=intake, report=report, event_id=event_id,
                                   source_type="open311_partner" if partner else "open311", now=now,
                                   extra={"open311": open311}, base_url=base_url, contacts=contacts)
    link = tracking_url(base_url=base_url, report_id=accepted.id)
    return RequestCreated(service_request_id=accepted.id, tracking_url=link,
                          service_notice=f"Received and placed at {accepted.located.label}. Follow it at {link}")


# ------------------------------------------------------------------ reading


def w3c(at: datetime) -> str:
    """A time as the spec writes it: W3C date-time, UTC, ``2010-01-01T00:00:00Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None, *, field: str) -> datetime | None:
    """A W3C date-time with its zone (``2010-01-01T00:00:00Z``) as UTC; None when not given."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(field, "not a W3C date-time such as 2010-01-01T00:00:00Z") from None
    if at.tzinfo is None:
        raise ValidationFailed(field, "must carry its zone (Z or an offset such as -08:00)")
    if not 1970 <= at.year <= 9000:
        raise ValidationFailed(field, "must be between the years 1970 and 9000")
    return at.astimezone(UTC)


def time_range(*, start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The start..end of a search: by default the most recent 90 days; at most 90 days apart."""
    since, until = parse_time(start, field="start_date"), parse_time(end, field="end_date")
    span = timedelta(days=MAX_SPAN_DAYS)
    if since is None and until is None:
        until = now
    if since is None:
        since = until - span  # type: ignore[operator]
    if until is None:
        until = since + span
    if until < since:
        raise ValidationFailed("end_date", "is before start_date")
    if until - since > span:
        raise ValidationFailed("end_date", f"the range may not span more than {MAX_SPAN_DAYS} days")
    return since, until


def split_list(text: str | None, *, field: str, allowed: list[str] | None = None, most: int = MAX_IDS) -> list[str]:
    """A comma-delimited parameter as its values; refusals name ``field`` (with the ``allowed`` values)."""
    values = [v.strip() for v in (text or "").split(",") if v.strip()]
    if len(values) > most:
        raise ValidationFailed(field, f"at most {most} values")
    for value in values:
        if allowed is not None and value not in allowed:
            raise ValidationFailed(field, f"{value[:64]!r} is not one of {', '.join(allowed)}", candidates=allowed)
    return values


class _Memo:
    """Store reads of one answer, each id read once (a report and its incident chain)."""

    def __init__(self, store: Store, seed: list[Envelope] = ()) -> None:
        self._store = store
        self._seen: dict[str, Envelope | None] = {e.id: e for e in seed}

    async def get_event(self, event_id: str) -> Envelope | None:
        if event_id not in self._seen:
            self._seen[event_id] = await self._store.get_event(event_id)
        return self._seen[event_id]


async def public_request(report: Envelope, *, reads: Any) -> ServiceRequest:
    """The public Open311 view of a citizen report: no contact, names, device or account ids, or media."""
    status = await report_status(store=reads, report_id=report.id)
    notes = status["status"] + (f": {status['reason']}" if status.get("reason") else "")
    code = report.category if report.category in {s.service_code for s in services()} else "other"
    service, _ = _catalogue_entry(code)
    lat = lon = None
    if report.geometry:
        lon, lat = representative_point(report.geometry)
    return ServiceRequest(
        service_request_id=report.id, status="closed" if status["status"] in CLOSED_STATUSES else "open",
        status_notes=notes, service_name=service.service_name, service_code=code, description=report.text or None,
        requested_datetime=w3c(report.observed_at),
        updated_datetime=w3c(datetime.fromisoformat(status["updated_at"])),
        address=report.location_text or report.attributes.get("located_as"), lat=lat, long=lon)


async def one_request(*, store: Store, service_request_id: str, field: str = "service_request_id") -> ServiceRequest:
    """One citizen report by its id (404 naming ``field``)."""
    report = await store.get_event(service_request_id)
    if report is None or report.kind is not Kind.citizen_report:
        raise NotFound(field, "no such service request (a request just sent appears within seconds)")
    return await public_request(report, reads=_Memo(store, [report]))


async def find_requests(*, store: Store, ids: list[str], codes: list[str], statuses: list[str], since: datetime,
                        until: datetime, limit: int) -> list[ServiceRequest]:
    """GET requests: the listed ids (which override every other filter), else the newest citizen reports of the
    services, statuses and time range (``requested_datetime``), at most ``limit``."""
    if ids:
        found = [await store.get_event(i) for i in dict.fromkeys(ids)]
        reports = [r for r in found if r is not None and r.kind is Kind.citizen_report]
        reads = _Memo(store, reports)
        return [await public_request(r, reads=reads) for r in reports]
    out: list[ServiceRequest] = []
    cursor: Cursor | None = None
    scanned = 0
    categories = tuple(codes)
    if "other" in codes:  # reports of categories outside the catalogue are listed as "other"
        categories = ()
    while len(out) < limit and scanned < SCAN_LIMIT:
        page = await store.read_events(EventQuery(kinds=(Kind.citizen_report.value,), categories=categories,
                                                  since=since, until=until, limit=PAGE, before=cursor))
        reads = _Memo(store, [item.event for item in page.items])
        for item in page.items:
            public = await public_request(item.event, reads=reads)
            if (not codes or public.service_code in codes) and (not statuses or public.status in statuses):
                out.append(public)
                if len(out) == limit:
                    break
        scanned += len(page.items)
        if not page.more or not page.items:
            break
        last = page.items[-1]
        cursor = Cursor(observed_at=last.event.observed_at, seq=last.seq)
    return out


async def token_answer(*, store: Store, token: str) -> TokenAnswer:
    """Every service here is ``realtime``: POST answers the service_request_id itself, which is also its token."""
    request = await one_request(store=store, service_request_id=token, field="token")
    return TokenAnswer(service_request_id=request.service_request_id, token=token)


async def request_updates(*, store: Store, since: datetime, until: datetime, limit: int = MAX_REQUESTS
                          ) -> list[RequestUpdate]:
    """FixMyStreet's servicerequestupdates: each coordinator action that changed the public status of an incident
    (verify, dismiss, resolve, reopen) between ``since`` and ``until``, once per citizen report it held then.
    The description is what the reporter may know (a dismissal's public reason, never the internal one)."""
    updates: list[tuple[datetime, RequestUpdate]] = []
    cursor: Cursor | None = None
    scanned = 0
    while scanned < SCAN_LIMIT:
        page = await store.read_events(EventQuery(kinds=(Kind.incident.value,), limit=PAGE, before=cursor))
        for item in page.items:
            inc = incident_from_envelope(item.event)
            for entry in inc.audit:
                state = STATE_ACTIONS.get(entry.get("action", ""))
                at = datetime.fromisoformat(entry["at"]) if "at" in entry else None
                if state is None or "refused" in entry or at is None or not since <= at <= until:
                    continue
                status, said = state
                if entry["action"] == "dismiss":
                    said = f"dismissed: {entry.get('public_reason') or 'not confirmed'}"
                for member in inc.members.values():
                    if member.kind != Kind.citizen_report.value or member.received_at > at:
                        continue
                    uid = hashlib.sha256(f"{inc.id}|{entry.get('action_id')}|{member.id}".encode()).hexdigest()[:24]
                    updates.append((at, RequestUpdate(update_id=uid, service_request_id=member.id, status=status,
                                                      updated_datetime=w3c(at), description=said)))
        scanned += len(page.items)
        if not page.more or not page.items:
            break
        last = page.items[-1]
        cursor = Cursor(observed_at=last.event.observed_at, seq=last.seq)
    updates.sort(key=lambda pair: (pair[0], pair[1].update_id))
    return [u for _, u in updates[:limit]]
