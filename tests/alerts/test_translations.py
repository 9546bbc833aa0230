"""Alerts in several languages (issue 15): one CAP info per language, checked per language, and each
subscriber's channel renders their language (or the first block)."""

from __future__ import annotations

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller

from alerts.cap.validate import validate_document
from alerts.cap.xml import read_alert, write_alert
from alerts.delivery.channels.email import from_settings
from alerts.delivery.models import ChannelType
from emergency.config import Settings
from emergency.stream.broker import free_port
from tests.alerts.delivery.peers import INSIDE, point_target
from tests.alerts.delivery.test_fanout import subscribe
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body

ES = {"headline": "Evacúe ahora: incendio cerca de SE Division St",
      "description": "Un incendio avanza hacia el este.", "instruction": "Salga hacia el oeste por Division St.",
      "wea_text": "Evacúe ahora: incendio cerca de SE Division St. Salga hacia el oeste.",
      "wea_long_text": "Incendio cerca de SE Division St. Evacúe ahora hacia el oeste por Division St; "
                       "no regrese hasta que las autoridades lo indiquen."}
KO = {"headline": "지금 대피하십시오: SE Division St 근처 화재", "instruction": "Division St를 따라 서쪽으로 대피하십시오."}


def multilingual(**over) -> dict:
    return {**alert_body(), "description": "A fire is moving east.", "instruction": "Leave west on Division St.",
            "wea_text": "Evacuate now: fire near SE Division St. Leave west.",
            "wea_long_text": "Fire near SE Division St. Evacuate west on Division St now; do not return until "
                             "officials say it is safe.",
            "translations": {"es-US": ES}, **over}


async def _cap(system, alert_id: str) -> bytes:
    async def found():
        r = await system.http.get(f"/api/v1/alerts/{alert_id}.xml")
        return r.content if r.status_code == 200 else None
    return await eventually(found)


async def test_a_cap_with_two_info_blocks_validates_and_reads_back(system):
    r = await system.http.post("/api/v1/alerts", json=multilingual(), headers=system.auth("alert_originator"))
    assert r.status_code == 202, r.text
    cap = await _cap(system, r.json()["id"])
    alerts, findings = validate_document(cap, ("schema", "core", "ipaws", "wea"))
    assert findings == []  # the XSD, the IPAWS profile v1.0 and WEA: no error, no warning
    [alert] = alerts
    en, es = alert.info
    assert (en.language, es.language) == ("en-US", "es-US")
    for name in ("event", "urgency", "severity", "certainty", "category", "event_code", "area", "expires"):
        assert getattr(en, name) == getattr(es, name), name
    assert es.headline == ES["headline"] and es.instruction == ES["instruction"]
    assert es.parameter_value("CMAMtext") == ES["wea_text"] and es.parameter_value("CMAMlongtext") == ES["wea_long_text"]
    assert es.parameter_value("WEAHandling") == en.parameter_value("WEAHandling") == "Imminent Threat"
    assert write_alert(read_alert(cap)) == cap  # the parser reads the multi-info message back, unchanged
    layer = (await system.http.get("/api/v1/alerts")).json()["features"]
    [props] = [f["properties"] for f in layer if f["id"] == r.json()["id"]]
    assert props["translations"] == {"es-US": ES} and props["languages"] == ["en-US", "es-US"]
    assert props["language"] == "en-US"


@pytest.mark.parametrize("change,detail", [
    ({"translations": {"es_US!": ES}}, "translations.es_US!: not a BCP 47 language tag"),
    ({"translations": {"español": ES}}, "translations.español: not a BCP 47 language tag"),
    ({"translations": {"en-us": ES}}, "translations.en-us: a second block in en-US"),
    ({"translations": {"es-US": {**ES, "headline": "x" * 141}}}, "translations.es-US.headline:"),
    ({"translations": {"es-US": {**ES, "wea_text": "x" * 91}}}, "translations.es-US.wea_text: is 91 characters"),
    ({"translations": {"es-US": {**ES, "wea_long_text": "x" * 361}}}, "translations.es-US.wea_long_text: is 361"),
    ({"translations": {"es-US": {"description": "sin titular"}}}, "translations.es-US.headline:"),
    ({"translations": {"es-US": {**ES, "colour": "red"}}}, "translations.es-US.colour:"),
    ({"language": "english"}, "language: 'english' is not a BCP 47 language tag"),
])
async def test_a_bad_translation_is_refused_naming_its_tag(system, change, detail):
    r = await system.http.post("/api/v1/alerts", json=multilingual(**change), headers=system.auth("alert_originator"))
    assert r.status_code == 422 and r.json()["detail"].startswith(detail), r.text


async def test_the_preview_warns_when_a_360_message_lacks_spanish_and_any_language_is_accepted(system):
    auth = system.auth("alert_originator")
    r = await system.http.post("/api/v1/alerts/drafts", json=multilingual(translations={"ko": KO}), headers=auth)
    assert r.status_code == 201, r.text
    preview = r.json()["preview"]
    rules = {(f["rule"], f["level"], f["field"]) for f in preview["findings"]}
    assert ("wea.spanish-missing", "warning", "/alert/info") in rules
    assert ("wea.language", "warning", "/alert/info[2]/language") in rules  # Korean goes to the other channels
    assert preview["issuable"] is True and set(preview["wea"]) == {"en-US", "ko"}
    r = await system.http.post("/api/v1/alerts/drafts", json=multilingual(), headers=auth)
    assert not [f for f in r.json()["preview"]["findings"] if f["rule"].startswith("wea.")]
    assert r.json()["preview"]["wea"]["es-US"] == {"wea_text": ES["wea_text"], "wea_long_text": ES["wea_long_text"]}


class Sink:
    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 2.0.0 Ok: queued"


async def test_each_subscriber_gets_their_language_by_email(broker, store_url, tmp_path):
    from tests.alerts.delivery.conftest import delivering_system

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    mail = from_settings(Settings(smtp_url=f"smtp://127.0.0.1:{controller.port}", public_url="http://127.0.0.1:9"))
    try:
        async with delivering_system(broker, store_url, tmp_path, channels={ChannelType.email: mail}) as d:
            plain = d.directory.contact

            async def contact(subscription_id, channel_id, *, pending=False):  # the repository's email addresses
                found = await plain(subscription_id, channel_id, pending=pending)
                return found.model_copy(update={"address": f"{subscription_id}@example.org"}) if found else None

            d.directory.contact = contact
            await subscribe(d, *(point_target(sid, *INSIDE, channel=ChannelType.email, languages=langs)
                                 for sid, langs in (("ana", ["es-MX", "en"]), ("min", ["ko"]),
                                                    ("jo", ["fr", "de"]), ("lee", ["en-GB"]))))
            r = await d.system.http.post("/api/v1/alerts", json=multilingual(translations={"es-US": ES, "ko": KO}),
                                         headers=d.system.auth("alert_originator"))
            assert r.status_code == 202, r.text
            await eventually(lambda: len(sink.mails) == 4, timeout=60)
    finally:
        controller.stop()
    by = {m["To"].split("@")[0]: m for m in sink.mails}
    text = {k: m.get_body(("plain",)).get_content() for k, m in by.items()}
    assert ES["headline"] in by["ana"]["Subject"] and ES["instruction"] in text["ana"]
    assert KO["headline"] in by["min"]["Subject"] and KO["instruction"] in text["min"]
    for first in ("jo", "lee"):  # no block in their languages (jo), or English: the first block
        assert "Evacuate now: fire near SE Division St" in by[first]["Subject"]
        assert "Leave west on Division St." in text[first] and ES["headline"] not in text[first]
    [cap] = [a for a in by["ana"].iter_attachments()]
    assert [i.language for i in read_alert(cap.get_content() if isinstance(cap.get_content(), bytes)
                                           else cap.get_content().encode()).info] == ["en-US", "es-US", "ko"]
