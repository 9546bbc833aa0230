"""Check-in messages and pages in the registrant's language (issue 15): the frame from the registry's catalogue
(en, es, ko through ``emergency.i18n``), the alert's headline from its translation for that language when it has
one (picked as the fan-out picks a subscriber's block), through the real delivery path and a real SMTP peer."""

from __future__ import annotations

from alerts.registry.repository import REGISTRY
from tests.alerts.delivery.peers import INSIDE
from tests.alerts.registry.conftest import links_in, mail_text, register, registrant_body
from tests.alerts.test_translations import ES
from tests.conftest import eventually
from tests.emergency.assembly.test_durability import alert_body


async def test_each_registrant_reads_the_checkin_and_its_page_in_their_language(mailed):
    system, box = mailed
    lat, lon = INSIDE
    rosa = await register(system, registrant_body("Rosa Diaz", lat, lon, language="es-MX", caregiver=None))
    min_ = await register(system, registrant_body("Min Park", lat + 0.0005, lon, language="ko", caregiver=None))
    ann = await register(system, registrant_body("Ann Smith", lat, lon + 0.0005, caregiver=None))
    body = {**alert_body(), "language": "en-US", "translations": {"es-US": ES}}
    issued = await system.http.post("/api/v1/alerts", json=body, headers=system.auth("alert_originator"))
    assert issued.status_code == 202, issued.text
    alert_id = issued.json()["id"]
    mails = {who: f"{who.lower().replace(' ', '.')}@example.org" for who in ("Rosa Diaz", "Min Park", "Ann Smith")}
    await eventually(lambda: all(box.count(m) == 1 for m in mails.values()))

    # Rosa (es-MX): the Spanish frame and the alert's own es-US headline
    rosa_mail = box.by_rcpt[mails["Rosa Diaz"]][0]
    assert rosa_mail["Subject"] == "Emergencia cerca de usted. ¿Está a salvo?"
    text = mail_text(rosa_mail)
    assert ES["headline"] in text and "Necesito ayuda:" in text and "Evacuate now" not in text
    # Min (ko): the Korean frame; the alert has no Korean block, so its first block's headline
    min_mail = box.by_rcpt[mails["Min Park"]][0]
    assert min_mail["Subject"] == "근처에 비상 상황이 있습니다. 안전하십니까?"
    assert "Evacuate now: fire near SE Division St" in mail_text(min_mail) and "도움이 필요합니다:" in mail_text(min_mail)
    # Ann (no language given): English
    ann_mail = box.by_rcpt[mails["Ann Smith"]][0]
    assert ann_mail["Subject"] == "Emergency near you. Are you safe?" and "Evacuate now" in mail_text(ann_mail)

    # the page each link opens speaks the registrant's language
    pages = {}
    for who, mail in (("rosa", rosa_mail), ("min", min_mail), ("ann", ann_mail)):
        links = links_in(mail)
        assert set(links) == {"safe", "help"}
        r = await system.http.get(links["help"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        pages[who] = r.text
    assert '<html lang="es">' in pages["rosa"] and "Sí, necesito ayuda" in pages["rosa"]
    assert '<html lang="ko">' in pages["min"] and "네, 도움이 필요합니다" in pages["min"]
    assert '<html lang="en">' in pages["ann"] and "Yes, I need help" in pages["ann"]

    rows = {o.registrant_id: o for o in await system.runtime.store.repository(REGISTRY).for_alert(alert_id)}
    assert (rows[rosa["id"]].language, rows[min_["id"]].language, rows[ann["id"]].language) == ("es", "ko", "en")
