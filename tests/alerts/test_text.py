"""Alert text that XML cannot carry is refused at the edge naming the field (it gave 500 when the CAP
message was written), without echoing the text."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from emergency.text import SafeText, check_safe_text
from tests.emergency.assembly.test_durability import alert_body

BAD = [("\x07", "a control character U+0007"), ("\x00", "a control character U+0000"),
       ("\x1f", "a control character U+001F"), ("\ufffe", "a non-character U+FFFE"),
       ("\uffff", "a non-character U+FFFF"), ("\ud800", "a lone surrogate U+D800")]


@pytest.mark.parametrize("field", ["headline", "description", "instruction", "event", "wea_text",
                                   "wea_long_text", "area.description"])
async def test_xml_illegal_characters_in_alert_text_are_refused_naming_the_field(system, field):
    auth = system.auth("alert_originator")
    for char, kind in BAD:
        body = alert_body()
        text = "Leave now" + char + " secret words"
        if field == "area.description":
            body["area"] = {**body["area"], "description": text}
        else:
            body[field] = text
        raw = json.dumps(body)  # ASCII with \u escapes, so a lone surrogate can be sent as JSON allows
        r = await system.http.post("/api/v1/alerts", content=raw,
                                   headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 422, (field, char, r.text)
        # a lone surrogate is already refused by the JSON parser ("unable to parse raw data as a unicode
        # string"), naming the field; SafeText refuses it in models built in Python (CLI, demo)
        expected = f"{field}: " if char == "\ud800" else f"{field}: contains {kind} at position 10"
        assert r.json()["detail"].startswith(expected), r.json()["detail"]
        assert "secret words" not in r.text
    # tab, newline and carriage return are fine in XML, and so in every alert text
    body = {**alert_body(), "description": "Leave now.\tGo east.\r\nDo not return."}
    r = await system.http.post("/api/v1/alerts", json=body, headers=auth)
    assert r.status_code == 202, r.text
    assert await system.runtime.wait_applied(timeout_s=30)
    xml = await system.http.get(f"/api/v1/alerts/{r.json()['id']}.xml")
    assert xml.status_code == 200 and b"Go east." in xml.content


async def test_a_cancel_note_that_xml_cannot_carry_is_refused(system):
    auth = system.auth("alert_originator")
    alert_id = (await system.http.post("/api/v1/alerts", json=alert_body(), headers=auth)).json()["id"]
    assert await system.runtime.wait_applied(timeout_s=30)
    r = await system.http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"note": "out\x0b"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("note: contains a control character U+000B at position 4")


def test_safe_text_is_one_type_other_models_can_use():
    class Note(BaseModel):
        text: SafeText

    assert Note(text="ok\tfine\n").text == "ok\tfine\n"
    with pytest.raises(ValueError, match="U\\+0001 at position 1"):
        Note(text="\x01")
    with pytest.raises(ValueError, match="lone surrogate U\\+DFFF at position 2"):
        Note(text="a\udfff")
    with pytest.raises(ValueError, match="U\\+FFFE"):
        check_safe_text("a\ufffe")
