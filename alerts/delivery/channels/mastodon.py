"""Post-out of each public alert version to one Mastodon-API account (``POST /api/v1/statuses``).

A broadcast channel like MQTT: the fan-out emits one job per alert version with
``subscription_id = "mastodon:broadcast"`` (``BROADCAST_SUBSCRIPTION``) when ``EMERGENCY_MASTODON_URL`` and
``EMERGENCY_MASTODON_TOKEN`` are set. Only alerts with CAP ``status`` Actual and ``scope`` Public are posted,
never the test tier (priority class 5): those jobs fail at once without a retry.

The status (at most 500 characters, the Mastodon default): the headline (with ``UPDATE:``/``CANCELLED:`` for
an Update/Cancel), the WEA 360-character text (else the 90-character one) and the link, ``visibility`` public,
``language`` the info block's ISO 639 code. ``Idempotency-Key: <delivery id>``: a resend after a crash between
the server's answer and the ledger's mark gets the same status back instead of a second post — Mastodon keeps
the key for one hour, so a resend later than that would post again (what remains of the crash window).
"""

from __future__ import annotations

import httpx

from alerts.cap.xml import CapError, local, parse_xml
from alerts.delivery.models import ChannelType, Contact, DeliveryJob, Receipt, Rendered, SendFailed
from emergency.config import Settings
from emergency.events import utcnow

BROADCAST_SUBSCRIPTION = "mastodon:broadcast"
STATUS_MAX = 500
TEST_PRIORITY = 5
PREFIX = {"Update": "UPDATE: ", "Cancel": "CANCELLED: "}


def cap_field(cap_xml: str, name: str) -> str | None:
    """The text of a top-level element (``status``, ``scope``) of the CAP alert, or None."""
    try:
        root = parse_xml(cap_xml.encode("utf-8"))
    except CapError:
        return None
    node = next((c for c in root if local(c.tag) == name), None)
    return node.text.strip() if node is not None and node.text else None


def status_text(job: DeliveryJob, message: Rendered, limit: int = STATUS_MAX) -> str:
    """Headline, WEA text and link in at most ``limit`` characters (the link is kept whole; the text is cut
    with an ellipsis)."""
    head = PREFIX.get(job.msg_type, "") + message.headline.strip()
    body = (message.wea_long or message.wea_short).strip()
    tail = "\n\n" + message.link
    room = limit - len(tail)
    text = head if body == head else f"{head}\n\n{body}"
    if len(text) > room:
        text = text[: max(0, room - 1)].rstrip() + "…"
    return text + tail


def language(job: DeliveryJob) -> str | None:
    """The ISO 639 part of the job's BCP 47 language (``es-MX`` → ``es``), or None."""
    return job.language.split("-")[0].lower() if job.language else None


class MastodonChannel:
    """Posts public alerts as public statuses of one account."""

    type = ChannelType.mastodon
    per_process = False

    def __init__(self, *, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})

    async def send(self, job: DeliveryJob, contact: Contact, message: Rendered) -> Receipt:
        """Post one public alert version; see the module docstring for what is posted and what is refused."""
        if job.priority == TEST_PRIORITY:
            raise SendFailed("test alerts are not posted", retry=False)
        status, scope = cap_field(message.cap_xml, "status"), cap_field(message.cap_xml, "scope")
        if status != "Actual" or scope != "Public":
            raise SendFailed(f"only Actual Public alerts are posted (status {status}, scope {scope})", retry=False)
        body = {"status": status_text(job, message), "visibility": "public"}
        if lang := language(job):
            body["language"] = lang
        try:
            r = await self._http.post(f"{self.base_url}/api/v1/statuses", json=body,
                                      headers={"Idempotency-Key": job.delivery_id})
        except httpx.HTTPError as exc:
            raise SendFailed(f"Mastodon server unreachable: {type(exc).__name__}", retry=True) from None
        if r.status_code == 200:
            try:
                remote = str(r.json().get("id") or "") or None
            except ValueError:
                remote = None
            return Receipt(delivery_id=job.delivery_id, alert_id=job.alert_id, alert_version=job.alert_version,
                           channel=self.type, state="sent", at=utcnow(), remote_id=remote)
        raise SendFailed(f"Mastodon server answered {r.status_code}",
                         retry=r.status_code == 429 or r.status_code >= 500)

    async def close(self) -> None:
        await self._http.aclose()


def from_settings(settings: Settings, **_: object) -> MastodonChannel | None:
    """The post-out when ``EMERGENCY_MASTODON_URL`` is set (it then needs ``EMERGENCY_MASTODON_TOKEN``)."""
    if not settings.mastodon_url:
        return None
    token = settings.mastodon_post_token.get_secret_value()
    if not token:
        raise ValueError("EMERGENCY_MASTODON_TOKEN: required when EMERGENCY_MASTODON_URL is set (an access token "
                         "with the write:statuses scope)")
    if not settings.mastodon_url.startswith(("https://", "http://")):
        raise ValueError("EMERGENCY_MASTODON_URL: expected https://instance")
    return MastodonChannel(base_url=settings.mastodon_url, token=token)
