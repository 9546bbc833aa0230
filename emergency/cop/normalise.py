"""The normaliser: raw.* topics -> cop.reports.

Checks that each raw event is usable in the picture (right kind for its topic, a known
category, a geometry where one is required), tidies its text, and republishes it under the
same id. An event with no geometry but with ``location_text`` or ``text`` is geocoded
offline by the geocoder the assembly hands in (``emergency.geocoding.Geocoder``; the region
of ``EMERGENCY_REGION_DIR``, loaded once per process by the runtime): the best match sets geometry, geo_precision,
confidence and location_text; no match keeps geo_precision "none". Anything it cannot use is rejected to the dead-letter topic with the
reason. The transformation is deterministic, so a replay yields the same picture.
"""

from __future__ import annotations

import logging
import re

import h3
from aiokafka import AIOKafkaProducer

from emergency.categories import AGENCY_CATEGORIES, REPORT_CATEGORIES
from emergency.config import Settings
from emergency.cop.incidents.models import CELL_RESOLUTION
from emergency.events import Envelope, Kind
from emergency.geocoding import Geocoder
from emergency.geometry import representative_point
from emergency.layers import expires_at, layer_of
from emergency.metrics import Registry
from emergency.stream.consumer import Incoming, Rejected
from emergency.stream.producer import publish_all
from emergency.stream.topics import COP_REPORTS, RAW_AGENCY, RAW_CITIZEN, RAW_FEEDS, RAW_SOCIAL

EXPECTED_KIND = {
    RAW_CITIZEN: Kind.citizen_report,
    RAW_AGENCY: Kind.agency_report,
    RAW_SOCIAL: Kind.social_post,
    RAW_FEEDS: Kind.feed_item,
}
LINE_TYPES = ("LineString", "MultiLineString")
_SPACE = re.compile(r"\s+")
log = logging.getLogger(__name__)


def normalise(topic: str, event: Envelope, geocoder: Geocoder | None = None) -> Envelope:
    """The COP version of a raw event; raises ValueError saying why it cannot be used.

    ``geocoder`` enables geocoding of events without geometry (GeoJSON, WGS 84).
    """
    if geocoder is not None and event.geometry is None and (event.location_text or event.text):
        event = geocoded(event, geocoder)
    expected = EXPECTED_KIND.get(topic)
    if expected is not None and event.kind is not expected:
        raise ValueError(f"kind {event.kind.value!r} does not belong on {topic} (expected {expected.value!r})")
    if event.kind is Kind.citizen_report:
        if event.category not in REPORT_CATEGORIES:
            raise ValueError(f"category {event.category!r} is not a citizen report category")
        if event.geometry is None or event.geometry["type"] != "Point":
            raise ValueError("a citizen report needs a Point geometry")
    if event.kind is Kind.agency_report:
        if event.category not in AGENCY_CATEGORIES:
            raise ValueError(f"category {event.category!r} is not an agency category")
        if event.category == "road_closure" and (event.geometry is None or event.geometry["type"] not in LINE_TYPES):
            raise ValueError("a road closure needs a LineString or MultiLineString geometry")
    if event.kind is Kind.feed_item and event.geometry is None:
        raise ValueError("a feed item needs a geometry (the poller publishes only located items)")
    layer_of(event)  # raises NoLayer (a ValueError): nothing enters the picture that no layer would show
    expires_at(event)  # raises ValueError: an expiry the store cannot hold never reaches the projector
    text = _SPACE.sub(" ", event.text).strip() if event.text else event.text
    return event.model_copy(update={"text": text})


def geocoded(event: Envelope, geocoder: Geocoder) -> Envelope:
    """The event with geometry from its location text (whole string) or else its text (best mention)."""
    found = geocoder.locate(location_text=event.location_text, text=event.text)
    if found is None:
        return event
    return event.model_copy(update={
        "geometry": found.geometry, "geo_precision": found.geo_precision,
        "confidence": found.confidence, "location_text": found.label})


def report_key(event: Envelope) -> str:
    """The cop.reports key: the H3 cell (resolution ``CELL_RESOLUTION``) of the event's representative point, so
    one correlator sees every report of a cell in order; the event id when it has no geometry."""
    if event.geometry is None:
        return event.id
    lon, lat = representative_point(event.geometry)
    return h3.latlng_to_cell(lat, lon, CELL_RESOLUTION)


def make_normaliser(settings: Settings, metrics: Registry, geocoder: Geocoder | None = None):
    """A batch processor for ``GroupWorker``: normalise and publish to cop.reports, reject the rest.

    ``geocoder`` is the process's (the assembly loads it once, off the event loop); None disables
    geocoding.
    """

    async def process(batch: list[Incoming], producer: AIOKafkaProducer) -> list[Rejected]:
        out: list[tuple[str, bytes, bytes, None]] = []
        rejected: list[Rejected] = []
        for inc in batch:
            try:
                event = normalise(inc.topic, inc.event, geocoder)
            except ValueError as exc:
                rejected.append(Rejected(inc, str(exc)))
                continue
            out.append((settings.topic(COP_REPORTS), report_key(event).encode(), event.to_json(), None))
        await publish_all(producer, out, settings.broker_timeout_s)
        metrics.events_out.inc(len(out), topic=COP_REPORTS)
        return rejected

    return process
