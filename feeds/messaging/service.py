"""Citizen reports by text message and mail: one conversation per sender until the report has a category and a
place, then one ``raw.citizen`` report through the citizen intake (``feeds.citizen.service.submit_report``).

The flow of one message (:meth:`MessageDesk.answer`), whatever it came by:

1. the same gateway message id again (a retried webhook, a mail sent twice) gets the answer it got the first
   time, and the same report (its event id is derived from that id);
2. per-sender rate limit (:meth:`SenderLimits.check`): beyond it one polite answer, then silence;
3. the category from the keyword table (``keywords.py``), unless the open conversation has one;
4. the place from the region geocoder on the text (a reply to "Where?" is geocoded as a whole place string).
   Nothing found -> "Where? Reply with street and cross street"; a whole road or area found (not a point) ->
   "Where on <what was understood>? ..." (never a silent guess);
5. both known -> the report is journaled and the answer carries its tracking link.

Privacy: the sender (E.164 number or mail address) goes only into the private contact store
(``feeds.citizen.contacts``, as the citizen API's ``contact``; the event keeps a keyed stand-in), never into the
journal, a key, a log line or an answer;
conversation rows are keyed by an HMAC of the sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from emergency.categories import ReportCategory
from emergency.config import Settings
from emergency.errors import RequestRefused
from emergency.events import new_id
from emergency.geocoding import Located
from emergency.i18n import FALLBACK, translate
from feeds.citizen.contacts import CONTACTS, ContactRepository
from feeds.citizen.models import CitizenReportIn
from feeds.citizen.service import submit_report, tracking_url
from feeds.intake import IDEMPOTENCY_KEY, Intake, idempotent_id
from feeds.messaging.keywords import CATALOGUE, category_of, language_of
from feeds.messaging.repository import CONVERSATIONS, ConversationRepository
from feeds.photos.models import StoredPhoto
from feeds.photos.repository import PHOTOS, PhotoRepository
from feeds.photos.service import accept_photo

log = logging.getLogger(__name__)

Channel = Literal["sms", "email"]
NOTICE_RATE = "1/hour"  # the polite "too many messages" answer, at most this often per sender
# joining words of an intersection in Spanish and Korean, read as "and" by the region geocoder
_CONNECTORS = re.compile(r"(?<!\w)(y|con|esquina)(?!\w)|\s(및|와|과)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Photo:
    """An image attached to a report mail, as received (type as declared; the photo rules check the content)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Inbound:
    """One message to the report intake. ``sender`` is personal data (E.164 number or mail address)."""

    channel: Channel
    sender: str
    text: str
    message_id: str | None = None  # the gateway's id (Kannel %I, Twilio MessageSid, the mail's Message-ID)
    photos: tuple[Photo, ...] = ()


@dataclass(frozen=True)
class Answer:
    """What to answer the sender ("" = nothing), and the report once there is one."""

    text: str
    language: str = FALLBACK
    report_id: str | None = None
    link: str | None = None  # the tracking link of the report
    limited: bool = False  # beyond the sender's rate: nothing was read


class SenderLimits:
    """Messages per sender in a moving window (the ``limits`` package, in memory, as alerts/subscriptions does):
    the one place to switch to the shared per-address limiter."""

    def __init__(self, rate: str) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rate, self.notice = parse(rate), parse(NOTICE_RATE)

    async def check(self, *, key: str) -> Literal["ok", "notice", "silent"]:
        """"ok" within the rate; beyond it "notice" once per ``NOTICE_RATE`` (answer politely), else "silent"."""
        if await self.limiter.hit(self.rate, "message-report", key):
            return "ok"
        return "notice" if await self.limiter.hit(self.notice, "message-report-notice", key) else "silent"


@dataclass
class MessageDesk:
    """The SMS and email report intake of one process (see the module docstring)."""

    settings: Settings
    intake: Intake
    conversations: ConversationRepository
    key: bytes  # HMAC key of sender keys and report ids (the SMS callback key)
    photos: PhotoRepository | None = None  # where a report's attached photos are recorded (the photo service)
    contacts: ContactRepository | None = None  # the private store of reporters' numbers and addresses
    limits: SenderLimits = field(init=False)

    def __post_init__(self) -> None:
        self.limits = SenderLimits(self.settings.message_report_rate)

    @classmethod
    def build(cls, *, settings: Settings, store: Any, intake: Intake, key: bytes) -> MessageDesk:
        """The desk on ``store``'s conversation repository."""
        return cls(settings=settings, intake=intake, conversations=store.repository(CONVERSATIONS), key=key,
                   photos=store.repository(PHOTOS), contacts=store.repository(CONTACTS))

    async def _photos(self, photos: Sequence[Photo]) -> tuple[list[StoredPhoto], list[tuple[str, str]]]:
        """Each attachment through the photo rules (content type, size, pixels, metadata stripped, stored by
        hash): the stored ones, and (file name, reason) for each refused one."""
        stored: list[StoredPhoto] = []
        refused: list[tuple[str, str]] = []
        s = self.settings
        for p in photos:
            try:
                stored.append(await asyncio.to_thread(accept_photo, data=p.data, declared_type=p.content_type,
                                                      data_dir=s.data_dir, max_bytes=s.photo_max_bytes,
                                                      max_pixels=s.photo_max_pixels))
            except RequestRefused as exc:
                refused.append((p.filename[:80], exc.message[:160]))
        return stored, refused

    def sender_key(self, *, channel: Channel, sender: str) -> str:
        """An HMAC of the sender: the conversation's key, without the number or address in it."""
        return hmac.new(self.key, f"sender\0{channel}\0{sender.lower()}".encode(), hashlib.sha256).hexdigest()[:40]

    async def answer(self, *, message: Inbound, now: datetime) -> Answer:
        """Take one message into the sender's conversation; the answer to send back (see the module docstring)."""
        sk = self.sender_key(channel=message.channel, sender=message.sender)
        seen = f"msg:{message.channel}:{_digest(message.message_id)}" if message.message_id else None
        if seen and (earlier := await self.conversations.get(seen, now=now)) is not None:
            return Answer(**earlier)
        verdict = await self.limits.check(key=sk)
        if verdict != "ok":
            language = language_of(message.text) or FALLBACK
            return Answer(translate(CATALOGUE, "limited", language) if verdict == "notice" else "", language,
                          limited=True)
        answer = await self._converse(message=message, sender_key=sk, now=now)
        if seen:
            await self.conversations.put(seen, answer.__dict__, expires_at=now + self._ttl())
        return answer

    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.message_conversation_ttl_s)

    async def _converse(self, *, message: Inbound, sender_key: str, now: datetime) -> Answer:
        conv_key = f"conv:{message.channel}:{sender_key}"
        conv = await self.conversations.get(conv_key, now=now) or {}
        language = language_of(message.text) or conv.get("language") or FALLBACK
        texts = [*conv.get("texts", []), message.text.strip()][-5:]
        category = ReportCategory(conv["category"]) if conv.get("category") else category_of(message.text)
        place_text, pending = conv.get("place"), conv.get("pending")
        located = None
        if pending == "where" and conv.get("road"):  # "Where on SE Hawthorne Blvd?" - "20th"
            crossing = f"{conv['road']} and {message.text.strip()}"
            found = await asyncio.to_thread(self._locate, place=crossing, text=crossing)
            if found is not None and found.geometry.get("type") == "Point":
                located, place_text = found, crossing
        if located is None and (pending == "where" or place_text is None):
            candidate = message.text if pending == "where" else None
            located = await asyncio.to_thread(self._locate, place=candidate, text=message.text)
            place_text = message.text if located is not None else None
        elif located is None and place_text:
            located = await asyncio.to_thread(self._locate, place=place_text, text=place_text)
        if located is not None and located.geometry.get("type") != "Point":  # a whole road or area: ask where on it
            await self._keep(conv_key, now=now, language=language, texts=texts, category=category, place=None,
                             pending="where", road=located.label.split(", ")[0])
            return Answer(translate(CATALOGUE, "where_on", language, label=located.label), language)
        if category is None:
            await self._keep(conv_key, now=now, language=language, texts=texts, category=None, place=place_text,
                             pending="what")
            return Answer(translate(CATALOGUE, "what", language), language)
        if located is None:
            await self._keep(conv_key, now=now, language=language, texts=texts, category=category, place=None,
                             pending="where")
            return Answer(translate(CATALOGUE, "where", language), language)
        return await self._file(message=message, sender_key=sender_key, conv_key=conv_key, now=now,
                                language=language, texts=texts, category=category, place_text=place_text or "",
                                located=located)

    def _locate(self, *, place: str | None, text: str) -> Located | None:
        geocoder = self.intake.geocoder
        if geocoder is None:
            return None
        return geocoder.locate(location_text=_as_place(place) if place else None, text=_as_place(text))

    async def _keep(self, conv_key: str, *, now: datetime, language: str, texts: list[str],
                    category: ReportCategory | None, place: str | None, pending: str, road: str | None = None) -> None:
        await self.conversations.put(conv_key, {"language": language, "texts": texts, "pending": pending, "road": road,
                                                "category": category.value if category else None, "place": place},
                                     expires_at=now + self._ttl())

    async def _file(self, *, message: Inbound, sender_key: str, conv_key: str, now: datetime, language: str,
                    texts: list[str], category: ReportCategory, place_text: str, located: Located) -> Answer:
        """Journal the report through the citizen intake and answer with its tracking link."""
        event_id = (idempotent_id("citizen", _digest(message.message_id), sender=sender_key)
                    if message.message_id else new_id("citizen"))
        report = CitizenReportIn(category=category, text=" / ".join(t for t in texts if t)[:2000],
                                 location_text=place_text[:500] or None, contact=message.sender[:200])
        stored, refused = await self._photos(message.photos)
        accepted = await submit_report(intake=self.intake, report=report, event_id=event_id,
                                       source_type=f"citizen_{message.channel}", now=now, located=located,
                                       photos=stored, photo_repository=self.photos if stored else None,
                                       base_url=self.settings.public_base_url(), contacts=self.contacts,
                                       language=language)
        await self.conversations.delete(conv_key)
        link = tracking_url(base_url=self.settings.public_base_url(), report_id=accepted.id)
        text = translate(CATALOGUE, "received", language, link=link, label=accepted.located.label,
                         category=translate(CATALOGUE, f"category.{category.value}", language))
        if stored:
            text = f"{text} {translate(CATALOGUE, 'photos_kept', language, n=len(stored))}"
        for name, reason in refused:  # the report stands; the sender learns which photo was not kept and why
            text = f"{text} {translate(CATALOGUE, 'photo_refused', language, name=name, reason=reason)}"
        log.info("report %s by %s filed (%s)", accepted.id, message.channel, category.value)
        return Answer(text, language, report_id=accepted.id, link=link)


def _digest(message_id: str | None) -> str:
    """The gateway's id as an Idempotency-Key (itself when it fits, else its SHA-256)."""
    value = message_id or ""
    return value if IDEMPOTENCY_KEY.match(value) else hashlib.sha256(value.encode()).hexdigest()


def _as_place(text: str) -> str:
    """A place text with Spanish and Korean intersection words read as "and" ("Hawthorne y 20th")."""
    return _CONNECTORS.sub(lambda m: " and " if m.group(2) else "and", text)
