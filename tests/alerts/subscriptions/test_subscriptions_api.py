"""The subscription API through the real app: creation and its echo, refusals naming the field, the management
token, confirmation codes, masked reads, admin counts, the creation rate limit."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from alerts.subscriptions.flows import repository
from emergency.events import utcnow
from tests.alerts.subscriptions.conftest import SQUARE, create, holder, push_subscription, subscription_body
from tests.conftest import make_settings, start_system

EMAIL, NUMBER = "a@example.org", "+15035550100"


async def test_creation_answers_201_with_a_token_and_echoes_what_was_understood(subs):
    body = subscription_body(languages=["ES", "en", "zh-hant-tw"])
    body["channels"][2].pop("secret")  # a webhook without a secret gets one, shown once
    got = await create(subs, body)
    assert got["id"].startswith("sub-") and len(got["token"]) >= 40
    assert got["pending_confirmation"] == ["email", "sms"]
    point, polygon, zone = got["areas"]
    assert point == {"type": "Point", "coordinates": [-122.65, 45.512], "radius_m": 1000.0}
    assert polygon == SQUARE
    assert zone["type"] in ("Polygon", "MultiPolygon") and zone["zone"] == "ORZ111"
    assert zone["name"] == "Inner Portland Metro"
    assert got["tiers"] == ["presidential", "imminent_threat_extreme", "imminent_threat_severe", "child_abduction",
                            "test"]
    assert got["languages"] == ["es", "en", "zh-Hant-TW"]
    channels = {c["channel_id"]: c for c in got["channels"]}
    assert set(channels) == {"email-0", "sms-0", "webhook-0", "mqtt-0", "webpush-0"}
    assert channels["email-0"] == {"channel_id": "email-0", "type": "email", "confirmed": False, "stopped": False,
                                   "contact": "a***@example.org"}
    assert channels["sms-0"]["contact"] == "+1503*****00" and not channels["sms-0"]["confirmed"]
    assert channels["webhook-0"]["confirmed"] and channels["webhook-0"]["contact"] == "https://hooks.example.org/…"
    assert got["webhook_secrets"]["webhook-0"].startswith("whsec_")
    assert EMAIL not in str(got) and NUMBER not in str(got)
    # defaults: English, every tier but test
    plain = await create(subs, {"areas": [{"zone": "multnomah"}], "channels": [{"type": "mqtt", "cell": "85283473f"}]})
    assert plain["languages"] == ["en"] and "test" not in plain["tiers"] and "public_safety" in plain["tiers"]
    assert plain["areas"][0]["zone"] == "ORC051" and plain["pending_confirmation"] == []


TOO_MANY = [{"point": {"lat": 45.5, "lon": -122.6}, "radius_m": 100}] * 11
BOWTIE = {"type": "Polygon", "coordinates": [[[-122.70, 45.50], [-122.68, 45.52], [-122.68, 45.50], [-122.70, 45.52],
                                              [-122.70, 45.50]]]}
HUGE = {"type": "Polygon", "coordinates": [[[-124, 44], [-120, 44], [-120, 47], [-124, 47], [-124, 44]]]}


@pytest.mark.parametrize("change, field", [
    ({"channels": [{"type": "email", "address": "not-an-address"}]}, "channels[0].address"),
    ({"channels": [{"type": "email", "address": "a@b@example.org"}]}, "channels[0].address"),
    ({"channels": [{"type": "sms", "number": "+1503555"}]}, "channels[0].number"),
    ({"channels": [{"type": "sms", "number": "5035550100"}]}, "channels[0].number"),
    ({"channels": [{"type": "websocket"}]}, "channels[0].type"),
    ({"channels": [{"type": "pigeon"}]}, "channels[0].type"),
    ({"channels": [{"type": "webhook", "url": "ftp://example.org/x"}]}, "channels[0].url"),
    ({"channels": [{"type": "webhook", "url": "https://example.org/x", "secret": "short"}]}, "channels[0].secret"),
    ({"channels": [{"type": "webpush", "subscription": push_subscription("http://push.example.org/x")}]},
     "channels[0].subscription.endpoint"),
    ({"channels": [{"type": "webpush", "subscription": {"endpoint": "https://push.example.org/x",
                                                         "keys": {"p256dh": "AAAA", "auth": "AAAA"}}}]},
     "channels[0].subscription.keys.p256dh"),
    ({"channels": [{"type": "mqtt"}] * 7}, "channels"),
    ({"channels": [{"type": "email", "address": "a@example.org"}, {"type": "email", "address": "a@example.org"}]},
     "channels[1]"),
    ({"areas": [{"polygon": BOWTIE}]}, "areas[0].polygon"),
    ({"areas": [{"mqtt": 1}, {"polygon": HUGE}]}, "areas[0]"),
    ({"areas": [{"point": {"lat": 45.5, "lon": -122.6}, "radius_m": 100}, {"polygon": HUGE}]}, "areas[1].polygon"),
    ({"areas": TOO_MANY}, "areas"),
    ({"areas": []}, "areas"),
    ({"areas": [{"point": {"lat": 45.5, "lon": -122.6}, "radius_m": 50_001}]}, "areas[0].radius_m"),
    ({"areas": [{"point": {"lat": 95, "lon": -122.6}, "radius_m": 100}]}, "areas[0].point.lat"),
    ({"areas": [{"point": {"lat": 45.5, "lon": -122.6}, "radius_m": True}]}, "areas[0].radius_m"),
    ({"areas": [{"zone": "ORZ006"}]}, "areas[0].zone"),
    ({"languages": ["english!"]}, "languages[0]"),
    ({"tiers": {"presidential": False}}, "tiers.presidential"),
    ({"tiers": {"tornado": True}}, "tiers.tornado"),
])
async def test_bad_input_is_refused_naming_the_field(subs_sqlite, change, field):
    answer = await subs_sqlite.http.post("/api/v1/subscriptions", json=subscription_body(**change))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith(f"{field}:") or f"{field}:" in detail, detail
    for secret in ("a@example.org", "a@b@example.org", "+15035550100", "5035550100", base64.b64encode(b"k" * 32).decode()):
        assert secret not in answer.text


async def test_an_unknown_zone_name_gets_the_close_names(subs_sqlite):
    answer = await subs_sqlite.http.post("/api/v1/subscriptions", json=subscription_body(areas=[{"zone": "Multnomh"}]))
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("areas[0].zone: not a zone")
    assert "Multnomah (ORC051)" in answer.json()["candidates"]


@pytest.mark.parametrize("url", ["http://127.0.0.2/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
                                 "http://localhost:8080/hook", "http://[::1]/hook", "http://user:pw@example.org/x",
                                 "http://[::ffff:10.0.0.1]/x"])
async def test_webhook_urls_the_server_must_not_call_are_refused(subs_sqlite, url):
    body = subscription_body(channels=[{"type": "webhook", "url": url}])
    answer = await subs_sqlite.http.post("/api/v1/subscriptions", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("channels[0].url:")


async def test_loopback_webhooks_only_when_allow_listed(subs_sqlite):
    from alerts.subscriptions import flows
    from alerts.subscriptions.models import SubscriptionIn
    from emergency.errors import ValidationFailed

    body = subscription_body(channels=[{"type": "webhook", "url": "http://127.0.0.1:9999/hook"}])
    got = await create(subs_sqlite, body)  # the system allows 127.0.0.1 (EMERGENCY_WEBHOOK_ALLOW_HOSTS)
    assert got["channels"][0]["confirmed"]
    rt = subs_sqlite.runtime
    with pytest.raises(ValidationFailed) as refused:  # the same flow without the allow list
        await flows.create_subscription(store=rt.store, submit=rt.submit, payload=SubscriptionIn(**body),
                                        region_dir=rt.settings.region_dir, webhook_allow_hosts="")
    assert refused.value.field == "channels[0].url" and "loopback" in refused.value.message


async def test_only_the_management_token_reads_changes_or_deletes(subs):
    mine, theirs = await create(subs), await create(subs)
    path = f"/api/v1/subscriptions/{mine['id']}"
    ok = await subs.http.get(path, headers=holder(mine["token"]))
    assert ok.status_code == 200 and ok.json()["id"] == mine["id"]
    for headers, status in (({}, 401), (holder(theirs["token"]), 404), (holder("x" * 43), 404),
                            (subs.auth("admin"), 404)):
        for method, kwargs in (("GET", {}), ("PATCH", {"json": {"languages": ["fr"]}}), ("DELETE", {}),
                               ("POST", {"json": {"channel": "email", "code": "000000"}})):
            url = path + "/confirm" if method == "POST" else path
            answer = await subs.http.request(method, url, headers=headers, **kwargs)
            assert answer.status_code == status, (method, headers, answer.text)
    unknown = await subs.http.get("/api/v1/subscriptions/sub-000000000000000000000000", headers=holder(mine["token"]))
    assert unknown.status_code == 404 and unknown.json()["detail"] == ok_detail(unknown)
    still = await subs.http.get(path, headers=holder(mine["token"]))
    assert still.json()["languages"] == ["es", "en"]  # nobody else changed it
    gone = await subs.http.delete(path, headers=holder(mine["token"]))
    assert gone.status_code == 200 and gone.json() == {"id": mine["id"], "deleted": True}
    assert (await subs.http.get(path, headers=holder(mine["token"]))).status_code == 404
    assert await repository(subs.runtime.store).contact(mine["id"], "email-0") is None


def ok_detail(answer) -> str:
    """A wrong token and an unknown id get the same answer."""
    return "subscription: not found, or the token is not this subscription's"


async def test_confirmation_codes(subs):
    got = await create(subs)
    sid, headers = got["id"], holder(got["token"])
    repo = repository(subs.runtime.store)
    assert await repo.contact(sid, "email-0") is None  # unconfirmed: nothing but the confirmation
    assert (await repo.pending_contact(sid, "email-0")).address == EMAIL
    code = await repo.confirmation(sid, "email-0")
    assert code is not None and code.isdigit() and 6 <= len(code) <= 8
    wrong = "1" * 6 if code != "1" * 6 else "2" * 6
    answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "email", "code": wrong},
                                  headers=headers)
    assert answer.status_code == 422 and answer.json()["detail"] == "code: not the code that was sent (4 tries left)"
    answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "email", "code": code},
                                  headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": sid, "channel_id": "email-0", "confirmed": True, "pending_confirmation": ["sms"]}
    contact = await repo.contact(sid, "email-0")
    assert contact.address == EMAIL and contact.unsubscribe_url.startswith(
        f"https://alerts.example.org/api/v1/subscriptions/{sid}/unsubscribe/email-0?sig=")
    assert await repo.confirmation(sid, "email-0") is None
    target = await repo.target(sid)
    assert {c.channel_id: c.confirmed for c in target.channels}["email-0"] is True
    # the sms code: five wrong tries use it up, even the right one is refused then
    sms_code = await repo.confirmation(sid, "sms-0")
    bad = "1" * 6 if sms_code != "1" * 6 else "2" * 6
    for _ in range(5):
        answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "sms", "code": bad},
                                      headers=headers)
        assert answer.status_code == 422
    answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "sms", "code": sms_code},
                                  headers=headers)
    assert answer.status_code == 422 and "wrong codes were tried" in answer.json()["detail"]
    # sending the channel again renews a used-up code
    body = subscription_body()
    renewed = await subs.http.patch(f"/api/v1/subscriptions/{sid}", json={"channels": body["channels"]},
                                    headers=headers)
    assert renewed.status_code == 200 and renewed.json()["pending_confirmation"] == ["sms"]
    new_code = await repo.confirmation(sid, "sms-0")
    assert new_code is not None
    answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "sms-0", "code": new_code},
                                  headers=headers)
    assert answer.status_code == 200 and answer.json()["pending_confirmation"] == []


async def test_codes_expire_after_a_day(subs):
    got = await create(subs)
    sid, repo = got["id"], repository(subs.runtime.store)
    sub = await repo.get(sid)
    code = await repo.confirmation(sid, "email-0")
    aged = sub.model_copy(update={"channels": [c.model_copy(update={"code_expires_at": utcnow() - timedelta(seconds=1)})
                                               if c.channel_id == "email-0" else c for c in sub.channels]})
    assert await repo.save(aged, expected_version=sub.version)
    assert await repo.confirmation(sid, "email-0") is None
    answer = await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "email", "code": code},
                                  headers=holder(got["token"]))
    assert answer.status_code == 422 and answer.json()["detail"].startswith("code: the code has expired")


async def test_a_changed_address_is_confirmed_again(subs):
    got = await create(subs)
    sid, headers, repo = got["id"], holder(got["token"]), repository(subs.runtime.store)
    code = await repo.confirmation(sid, "email-0")
    await subs.http.post(f"/api/v1/subscriptions/{sid}/confirm", json={"channel": "email", "code": code},
                         headers=headers)
    same = await subs.http.patch(f"/api/v1/subscriptions/{sid}", json={"channels": subscription_body()["channels"]},
                                 headers=headers)
    assert same.status_code == 200 and same.json()["pending_confirmation"] == ["sms"]  # unchanged email stays confirmed
    channels = subscription_body()["channels"]
    channels[0] = {"type": "email", "address": "b@example.org"}
    changed = await subs.http.patch(f"/api/v1/subscriptions/{sid}", json={"channels": channels, "tiers": {}},
                                    headers=headers)
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert out["pending_confirmation"] == ["email", "sms"] and out["version"] == 4
    email = next(c for c in out["channels"] if c["type"] == "email")
    assert email["contact"] == "b***@example.org" and not email["confirmed"]
    assert "test" not in out["tiers"]
    assert await repo.contact(sid, email["channel_id"]) is None
    assert email["channel_id"] == "email-1" and await repo.confirmation(sid, "email-1") is not None


async def test_reads_and_the_admin_list_show_masked_values_only(subs):
    got = await create(subs)
    await create(subs, {"areas": [{"zone": "ORC051"}], "channels": [{"type": "sms", "number": "+15035550199"}]})
    read = await subs.http.get(f"/api/v1/subscriptions/{got['id']}", headers=holder(got["token"]))
    admin = await subs.http.get("/api/v1/admin/subscriptions?limit=1", headers=subs.auth("admin"))
    assert admin.status_code == 200, admin.text
    page = admin.json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next"]
    assert page["counts"]["sms"] == {"confirmed": 0, "unconfirmed": 2, "stopped": 0}
    assert page["counts"]["email"]["unconfirmed"] == 1 and page["counts"]["mqtt"]["confirmed"] == 1
    rest = await subs.http.get(f"/api/v1/admin/subscriptions?after={page['next']}", headers=subs.auth("admin"))
    assert len(rest.json()["items"]) == 1 and rest.json()["next"] is None
    texts = read.text + admin.text + rest.text
    for private in (EMAIL, NUMBER, "+15035550199", "hooks.example.org/alerts", "whsec_", "p256dh", "send/abc"):
        assert private not in texts, private
    assert "a***@example.org" in read.text and "+1503*****99" in texts
    denied = await subs.http.get("/api/v1/admin/subscriptions", headers=subs.auth("coordinator"))
    assert denied.status_code == 403


async def test_creation_is_rate_limited_per_address(broker, sqlite_url, tmp_path):
    system, task, server = await start_system(make_settings(broker, sqlite_url, tmp_path, subscribe_rate="2/minute"),
                                              broker)
    try:
        body = {"areas": [{"zone": "ORZ111"}], "channels": [{"type": "mqtt"}]}
        for _ in range(2):
            assert (await system.http.post("/api/v1/subscriptions", json=body)).status_code == 201
        third = await system.http.post("/api/v1/subscriptions", json=body)
        assert third.status_code == 429, third.text
        assert 1 <= int(third.headers["Retry-After"]) <= 60
        assert third.json()["detail"].startswith("subscription: at most 2 per 1 minute")
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()


async def test_a_webhook_secret_given_is_kept_and_never_shown(subs):
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    got = await create(subs, {"areas": [{"zone": "ORZ111"}],
                              "channels": [{"type": "webhook", "url": "http://127.0.0.1:1/h", "secret": secret}]})
    assert got["webhook_secrets"] is None and secret not in str(got)
    contact = await repository(subs.runtime.store).contact(got["id"], "webhook-0")
    assert contact.secret == secret and contact.url == "http://127.0.0.1:1/h"
