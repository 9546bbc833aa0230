"""The message of one delivery: texts, CAP XML and links for an alert version, or a confirmation message.

The alert version comes from the journal (``alerts.journal.ALERT_JOURNAL``: every accepted version of the
thread, from the moment it was accepted), so a channel worker that runs ahead of the projector still renders
the exact version its job names; the projection (``store.get_event``) is the fallback.
"""

from __future__ import annotations

from alerts.cap.build import envelope_to_cap
from alerts.cap.validate import WEA_TEXT_MAX
from alerts.cap.xml import write_alert
from alerts.delivery.fanout import alert_version
from alerts.delivery.models import DeliveryJob, Rendered, SendFailed
from alerts.journal import ALERT_JOURNAL
from alerts.service import translation_of
from emergency.cop.features import to_feature
from emergency.events import Envelope
from emergency.store.base import Store


def ack_url(*, base: str, delivery_id: str) -> str:
    """Where a person (a link, an app) acknowledges a delivery: POST, the delivery id is the capability."""
    return f"{base}/api/v1/deliveries/{delivery_id}/ack"


async def find_version(*, store: Store, job: DeliveryJob) -> Envelope | None:
    """The alert version a job names, from the journal, else the projection when it holds that version."""
    for version in reversed(await store.repository(ALERT_JOURNAL).versions(job.alert_id)):
        if alert_version(version) == job.alert_version:
            return version
    latest = await store.get_event(job.alert_id)
    return latest if latest is not None and alert_version(latest) == job.alert_version else None


def render_alert(*, event: Envelope, job: DeliveryJob, base: str) -> Rendered:
    """The message of an alert version in the info block the fan-out chose for the subscriber (``job.language``,
    one of the alert's languages), or the first block; every channel renders from these texts."""
    texts = translation_of(event.attributes, job.language)
    headline = texts.get("headline") or event.text or event.id
    short = texts.get("wea_text") or headline
    return Rendered(headline=headline, description=texts.get("description"), instruction=texts.get("instruction"),
                    wea_short=short[:WEA_TEXT_MAX], wea_long=texts.get("wea_long_text"),
                    cap_xml=write_alert(envelope_to_cap(event)).decode("utf-8"), geojson=to_feature(event),
                    link=f"{base}/api/v1/alerts/{event.id}.xml", ack_url=ack_url(base=base, delivery_id=job.delivery_id))


def render_confirmation(*, job: DeliveryJob, code: str, base: str) -> Rendered:
    """The confirmation message of a channel: the link comes first, so the code is the only run of 6-8 digits
    after the word "code"."""
    link = f"{base}/api/v1/subscriptions/{job.subscription_id}/confirm"
    text = f"To confirm this channel for public alerts, open {link} or reply with the code {code}"
    # the text once (channels show wea_long, else wea_short, then the description): one run of digits
    return Rendered(headline="Confirm your alert subscription", description=None,
                    instruction="If you did not subscribe, ignore this message: nothing more will be sent.",
                    wea_short=f"Alert subscription: your confirmation code {code}", wea_long=text, cap_xml="",
                    geojson={}, link=link)


async def render(*, store: Store, job: DeliveryJob, base: str, code: str | None = None) -> Rendered:
    """The message of one job; ``SendFailed(retry=True)`` when its alert version is not readable yet, and
    ``SendFailed(retry=False)`` for a confirmation without a pending code."""
    if job.msg_type == "Confirmation":
        if code is None:
            raise SendFailed("nothing to confirm: the channel is confirmed or gone", retry=False)
        return render_confirmation(job=job, code=code, base=base)
    event = await find_version(store=store, job=job)
    if event is None:
        raise SendFailed(f"alert version {job.alert_version} is not in the store yet", retry=True)
    return render_alert(event=event, job=job, base=base)
