"""Mastodon post-out against a local Mastodon-API peer (a real HTTP server): ``POST /api/v1/statuses`` with
bearer token, the 500-character limit and ``Idempotency-Key`` semantics (the same key answers the same status,
posted once)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from alerts.delivery.channels.mastodon import BROADCAST_SUBSCRIPTION, MastodonChannel, status_text
from alerts.delivery.channels.mastodon import from_settings as mastodon_from_settings
from alerts.delivery.models import ChannelType, SendFailed
from emergency.config import Settings
from emergency.stream.broker import free_port
from tests.alerts.delivery.channels.samples import contact, job, rendered

TOKEN = "mastodon-test-token"


class MastodonPeer:
    """The statuses endpoint of a Mastodon server, in memory."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.statuses: list[dict] = []
        self.by_key: dict[str, dict] = {}
        self.fail_with: int | None = None

    async def post_status(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        if self.fail_with:
            return web.json_response({"error": "busy"}, status=self.fail_with)
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        text = body.get("status", "")
        if not text or len(text) > 500:
            return web.json_response({"error": "Validation failed: Text character limit of 500 exceeded"},
                                     status=422)
        status = {"id": str(len(self.statuses) + 1), "content": text, "visibility": body.get("visibility"),
                  "language": body.get("language"), "url": f"{self.url}/@alerts/{len(self.statuses) + 1}"}
        self.statuses.append(status)
        if key:
            self.by_key[key] = status
        return web.json_response(status)


@pytest.fixture
async def peer() -> AsyncIterator[MastodonPeer]:
    p = MastodonPeer()
    app = web.Application()
    app.router.add_post("/api/v1/statuses", p.post_status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", p.port).start()
    yield p
    await runner.cleanup()


@pytest.fixture
async def channel(peer, tmp_path) -> AsyncIterator[MastodonChannel]:
    ch = mastodon_from_settings(Settings(mastodon_url=peer.url, mastodon_post_token=TOKEN, data_dir=tmp_path))
    assert ch is not None
    yield ch
    await ch.close()


def post_job(**kw):
    return job(ChannelType.mastodon, subscription_id=BROADCAST_SUBSCRIPTION, channel_id="mastodon", **kw)


async def test_public_alert_is_posted_once_even_when_sent_again(channel, peer):
    j = post_job(language="es-MX")
    first = await channel.send(j, contact(ChannelType.mastodon), rendered())
    again = await channel.send(j, contact(ChannelType.mastodon), rendered())  # the crash-window resend
    assert first.state == again.state == "sent" and first.remote_id == again.remote_id == "1"
    [status] = peer.statuses
    assert status["visibility"] == "public" and status["language"] == "es"
    assert status["content"].startswith("Flash flood warning for SE Portland\n\nFlash flood warning for SE Portland "
                                        "until 6 PM.")
    assert status["content"].endswith("\n\nhttp://127.0.0.1:8000/api/v1/alerts/alert:flood-1.xml")
    update = await channel.send(post_job(version="alert:flood-1:2", msg_type="Update"), contact(ChannelType.mastodon),
                                rendered())
    assert update.remote_id == "2" and peer.statuses[1]["content"].startswith("UPDATE: Flash flood")


async def test_long_texts_are_cut_to_500_characters_keeping_the_link(channel, peer):
    msg = rendered(headline="Evacuation order " * 40)
    await channel.send(post_job(), contact(ChannelType.mastodon), msg)
    [status] = peer.statuses
    assert len(status["content"]) == 500 and status["content"].endswith("\n\n" + msg.link) and "…" in status["content"]
    assert len(status_text(post_job(), rendered())) < 500


async def test_test_tier_and_non_public_alerts_are_not_posted(channel, peer):
    for j, msg in ((post_job(priority=5), rendered()), (post_job(), rendered(scope="Restricted"))):
        with pytest.raises(SendFailed) as err:
            await channel.send(j, contact(ChannelType.mastodon), msg)
        assert err.value.retry is False
    assert peer.statuses == []


async def test_server_errors_are_retried_refusals_are_not(channel, peer):
    for status, retry in ((503, True), (429, True), (422, False)):
        peer.fail_with = status
        with pytest.raises(SendFailed) as err:
            await channel.send(post_job(), contact(ChannelType.mastodon), rendered())
        assert err.value.retry is retry and str(status) in err.value.reason


async def test_wrong_token_is_not_retried(peer, tmp_path):
    ch = mastodon_from_settings(Settings(mastodon_url=peer.url, mastodon_post_token="wrong", data_dir=tmp_path))
    try:
        with pytest.raises(SendFailed) as err:
            await ch.send(post_job(), contact(ChannelType.mastodon), rendered())
        assert err.value.retry is False and "401" in err.value.reason and "wrong" not in err.value.reason
    finally:
        await ch.close()


def test_post_out_is_off_without_url_and_needs_its_own_token(tmp_path):
    assert mastodon_from_settings(Settings(data_dir=tmp_path)) is None
    with pytest.raises(ValueError, match="EMERGENCY_MASTODON_TOKEN"):  # the social streams' token is not used
        mastodon_from_settings(Settings(mastodon_url="https://social.example", mastodon_access_token="t",
                                        data_dir=tmp_path))
