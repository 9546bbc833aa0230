"""Alert drafts (issue 15): preview, two-person approval per tier, audit trail, Update/Cancel under the policy."""

from __future__ import annotations

from contextlib import asynccontextmanager

from alerts.cap.validate import validate_document
from alerts.tiers import Tier
from emergency.auth.tokens import Role, create_token
from tests.alerts.drafts.approval import issue_approved, people
from tests.conftest import REGION, eventually, start_system
from tests.emergency.assembly.test_durability import alert_body, make_settings, run_cli

DRAFTS = "/api/v1/alerts/drafts"


def presidential(**over) -> dict:
    return {**alert_body(), "tier": "presidential", "headline": "Presidential Alert: national emergency", **over}


async def test_the_author_cannot_approve_their_own_presidential_alert_and_a_second_person_can(system):
    store, http = system.runtime.store, system.http
    author, _ = await create_token(store, name="FEMA ops", roles=[Role.national_authority, Role.alert_approver],
                                   agency="FEMA", person="Ann Author")
    same_person, _ = await create_token(store, name="FEMA ops laptop", roles=[Role.alert_approver], person="ann  AUTHOR")
    nameless, _ = await create_token(store, name="FEMA desk", roles=[Role.alert_approver])
    approver, _ = await create_token(store, name="FEMA duty officer", roles=[Role.alert_approver], person="Bob Approver")
    a, p = ({"Authorization": f"Bearer {t}"} for t in (author, approver))

    r = await http.post("/api/v1/alerts", json=presidential(), headers=a)  # the old way: one token, at once
    assert r.status_code == 403
    assert r.json()["detail"].startswith("tier: presidential alerts need 1 approval by a second person (role "
                                         "alert_approver) before they are issued: create a draft (POST "
                                         "/api/v1/alerts/drafts)")

    r = await http.post(DRAFTS, json=presidential(), headers=a)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft" and draft["approvals_needed"] == 1 and draft["approvals"] == []
    assert draft["author"] == {"token_id": draft["author"]["token_id"], "name": "FEMA ops", "agency": "FEMA",
                               "person": "Ann Author"}
    assert "author_hash" not in draft and author not in r.text
    preview = draft["preview"]
    assert preview["issuable"] is True and not [f for f in preview["findings"] if f["level"] == "error"]
    assert all(set(f) == {"rule", "level", "path", "field", "message"} for f in preview["findings"])
    assert "<msgType>Alert</msgType>" in preview["cap_xml"] and "<value>EAN</value>" in preview["cap_xml"]
    assert preview["wea"] == {"en-US": {"wea_text": "Presidential Alert: national emergency", "wea_long_text": None}}
    assert preview["targeted"] == {}  # nobody subscribed
    did = draft["id"]

    r = await http.post(f"{DRAFTS}/{did}/issue", headers=a)
    assert r.status_code == 409 and r.json()["detail"].startswith("approvals: presidential alerts need 1 approval")
    r = await http.post(f"{DRAFTS}/{did}/approve", headers=a)
    assert r.status_code == 403
    assert r.json()["detail"] == ("approver: the author cannot approve their own draft (rule: two-person approval: "
                                  "another person with role alert_approver must approve it)")
    r = await http.post(f"{DRAFTS}/{did}/approve", headers={"Authorization": f"Bearer {same_person}"})
    assert r.status_code == 403 and r.json()["detail"].startswith("approver: Ann Author wrote this draft; the same "
                                                                  "person cannot approve it with another token")
    r = await http.post(f"{DRAFTS}/{did}/approve", headers={"Authorization": f"Bearer {nameless}"})
    assert r.status_code == 403 and r.json()["detail"].startswith("person: approving a presidential alert needs a "
                                                                  "token that names its person")
    r = await http.post(f"{DRAFTS}/{did}/approve", headers=system.auth("alert_originator"))
    assert r.status_code == 403 and "needs role alert_approver" in r.json()["detail"]

    r = await http.post(f"{DRAFTS}/{did}/approve", json={"reason": "checked with the watch officer"}, headers=p)
    assert r.status_code == 200 and [x["by"]["person"] for x in r.json()["approvals"]] == ["Bob Approver"]
    r = await http.post(f"{DRAFTS}/{did}/approve", headers=p)  # twice by the same person: counted once
    assert r.status_code == 200 and len(r.json()["approvals"]) == 1

    r = await http.post(f"{DRAFTS}/{did}/issue", headers=p)  # the author or an approver may issue it
    assert r.status_code == 202 and set(r.json()) == {"id", "status", "duplicate"}
    assert r.json()["status"] == "accepted" and r.json()["duplicate"] is False
    alert_id = r.json()["id"]
    r = await http.post(f"{DRAFTS}/{did}/issue", headers=a)
    assert r.status_code == 409 and f"already issued as {alert_id!r}" in r.json()["detail"]

    r = await http.get(f"{DRAFTS}/{did}", headers=p)
    trail = r.json()["trail"]
    assert [(e["action"], e["by"]["person"]) for e in trail] == [
        ("create", "Ann Author"), ("approve", "Bob Approver"), ("approve", "Bob Approver"), ("issue", "Bob Approver")]
    assert trail[1]["reason"] == "checked with the watch officer"
    assert trail[2]["note"] == "approved again by the same person: counted once"
    assert trail[3]["note"] == f"Alert issued as {alert_id}"
    assert [e["at"] for e in trail] == sorted(e["at"] for e in trail)
    assert r.json()["status"] == "issued" and r.json()["issued_alert_id"] == alert_id

    async def issued():
        x = await http.get(f"/api/v1/alerts/{alert_id}.xml")
        return x if x.status_code == 200 else None
    cap = (await eventually(issued)).content
    alerts, findings = validate_document(cap, ("schema", "core", "ipaws", "wea"))
    assert [f for f in findings if f.level == "error"] == [] and alerts[0].info[0].event_codes("SAME") == ["EAN"]
    assert alerts[0].sender == "fema"  # sent under the author's agency, not the approver's


async def test_a_rejected_draft_cannot_be_issued_nor_approved(system):
    author, approver = await people(system.runtime.store)
    r = await system.http.post(DRAFTS, json=presidential(), headers=author)
    did = r.json()["id"]
    r = await system.http.post(f"{DRAFTS}/{did}/reject", headers=approver)
    assert r.status_code == 422 and r.json()["detail"].startswith("reason: a rejection needs a reason")
    r = await system.http.post(f"{DRAFTS}/{did}/reject", json={"reason": "Wrong area: this is a drill"},
                               headers=approver)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["trail"][-1]["action"] == "reject" and r.json()["trail"][-1]["reason"] == "Wrong area: this is a drill"
    for action, who in (("issue", author), ("approve", approver), ("issue", approver)):
        r = await system.http.post(f"{DRAFTS}/{did}/{action}", headers=who)
        assert r.status_code == 409 and r.json()["detail"].startswith(f"draft_id: draft {did!r} was rejected"), r.text
    r = await system.http.patch(f"{DRAFTS}/{did}", json={"headline": "Fixed"}, headers=author)
    assert r.status_code == 409


async def test_an_edit_withdraws_the_approvals_and_the_trail_shows_the_fields_changed(system):
    author, approver = await people(system.runtime.store)
    did = (await system.http.post(DRAFTS, json=presidential(), headers=author)).json()["id"]
    assert (await system.http.post(f"{DRAFTS}/{did}/approve", headers=approver)).status_code == 200
    r = await system.http.patch(f"{DRAFTS}/{did}", json={"headline": "Presidential Alert: stay indoors",
                                                         "instruction": "Stay indoors."}, headers=author)
    assert r.status_code == 200, r.text
    edit = r.json()["trail"][-1]
    assert edit["action"] == "edit" and edit["note"] == "1 approval(s) withdrawn by the edit"
    assert edit["changes"] == {"headline": {"from": "Presidential Alert: national emergency",
                                            "to": "Presidential Alert: stay indoors"},
                               "instruction": {"from": None, "to": "Stay indoors."}}
    assert r.json()["approvals"] == [] and r.json()["payload"]["headline"] == "Presidential Alert: stay indoors"
    r = await system.http.post(f"{DRAFTS}/{did}/issue", headers=author)
    assert r.status_code == 409  # the approval was for the old text
    r = await system.http.patch(f"{DRAFTS}/{did}", json={"headline": "x" * 141}, headers=author)
    assert r.status_code == 422 and r.json()["detail"].startswith("headline:")
    other, _ = await people(system.runtime.store)
    r = await system.http.patch(f"{DRAFTS}/{did}", json={"headline": "Mine now"}, headers=other)
    assert r.status_code == 403 and r.json()["detail"].startswith("draft_id: only the author")
    assert (await system.http.post(f"{DRAFTS}/{did}/approve", headers=approver)).status_code == 200
    assert (await system.http.post(f"{DRAFTS}/{did}/issue", headers=author)).status_code == 202


async def test_a_tier_that_needs_no_approval_issues_directly_and_its_draft_issues_at_once(system):
    originator = system.auth("alert_originator")
    r = await system.http.post("/api/v1/alerts", json={**alert_body(), "tier": "test", "headline": "Monthly test"},
                               headers=originator)
    assert r.status_code == 202
    r = await system.http.post(DRAFTS, json={**alert_body(), "tier": "test", "headline": "Monthly test"},
                               headers=originator)
    assert r.status_code == 201 and r.json()["approvals_needed"] == 0
    r = await system.http.post(f"{DRAFTS}/{r.json()['id']}/issue", headers=originator)
    assert r.status_code == 202 and r.json()["id"].startswith("alert:")


async def test_amber_needs_one_approver_by_default_and_the_setting_changes_it(system):
    amber, _ = await create_token(system.runtime.store, name="State police", roles=[Role.alert_originator, Role.amber],
                                  agency="State police", jurisdiction=REGION["jurisdiction"], person="Carla Trooper")
    body = {**alert_body(), "tier": "child_abduction", "headline": "AMBER Alert: boy, 6, grey sedan"}
    r = await system.http.post("/api/v1/alerts", json=body, headers={"Authorization": f"Bearer {amber}"})
    assert r.status_code == 403 and r.json()["detail"].startswith("tier: child_abduction alerts need 1 approval")
    system.runtime.settings.alert_approval = "child_abduction=none,imminent_threat_severe=one"
    try:
        r = await system.http.post("/api/v1/alerts", json=body, headers={"Authorization": f"Bearer {amber}"})
        assert r.status_code == 202
        r = await system.http.post("/api/v1/alerts", json=alert_body(), headers=system.auth("alert_originator"))
        assert r.status_code == 403 and r.json()["detail"].startswith("tier: imminent_threat_severe alerts need 1")
    finally:
        system.runtime.settings.alert_approval = "child_abduction=one"


async def test_update_and_cancel_of_an_approved_alert_follow_its_tier_policy(system):
    http = system.http
    author, approver = await people(system.runtime.store)
    alert_id = await issue_approved(http, presidential(), author=author, approver=approver)
    r = await http.post(f"/api/v1/alerts/{alert_id}/update", json=presidential(headline="Presidential Alert: update"),
                        headers=author)
    assert r.status_code == 403 and r.json()["detail"].startswith("tier: presidential alerts need 1 approval by a "
                                                                  "second person (role alert_approver) before they "
                                                                  "are updated")
    r = await http.post(f"/api/v1/alerts/{alert_id}/cancel", headers=author)
    assert r.status_code == 403 and "before they are cancelled" in r.json()["detail"]
    r = await http.post(DRAFTS, json=presidential(headline="Presidential Alert: update", msg_type="Update"),
                        headers=author)
    assert r.status_code == 422 and r.json()["detail"].startswith("alert_id:")
    update = {**presidential(headline="Presidential Alert: update"), "msg_type": "Update", "alert_id": alert_id}
    r = await http.post(DRAFTS, json={**update, "tier": "test"}, headers=author)
    assert r.status_code == 422 and r.json()["detail"].startswith("tier: an update keeps the tier")
    assert await issue_approved(http, update, author=author, approver=approver) == alert_id
    r = await http.post(f"{DRAFTS}/cancellations", json={"alert_id": alert_id, "note": "All clear"}, headers=author)
    assert r.status_code == 201 and r.json()["msg_type"] == "Cancel" and r.json()["approvals_needed"] == 1
    assert "<msgType>Cancel</msgType>" in r.json()["preview"]["cap_xml"]
    cancel = r.json()["id"]
    assert (await http.post(f"{DRAFTS}/{cancel}/issue", headers=author)).status_code == 409
    assert (await http.post(f"{DRAFTS}/{cancel}/approve", headers=approver)).status_code == 200
    assert (await http.post(f"{DRAFTS}/{cancel}/issue", headers=author)).status_code == 202

    async def cancelled():
        x = await http.get(f"/api/v1/alerts/{alert_id}.xml")
        return x.text if "<msgType>Cancel</msgType>" in x.text else None
    cap = await eventually(cancelled)
    assert cap.count(f"{alert_id},") == 0 or "<references>" in cap  # references every live message of the thread
    _, findings = validate_document(cap.encode(), ("schema", "core", "ipaws", "wea"))
    assert [f for f in findings if f.level == "error"] == []


async def test_the_list_is_newest_first_truncated_and_scoped_to_the_jurisdiction(system):
    http = system.http
    originator = system.auth("alert_originator")
    ids = []
    for n in range(3):
        r = await http.post(DRAFTS, json={**alert_body(), "headline": f"Draft {n}"}, headers=originator)
        ids.append(r.json()["id"])
    r = await http.get(f"{DRAFTS}?limit=2", headers=originator)
    assert r.status_code == 200
    assert [d["id"] for d in r.json()["drafts"]] == [ids[2], ids[1]] and r.json()["truncated"] is True
    r = await http.get(DRAFTS, headers=originator)
    assert [d["headline"] for d in r.json()["drafts"]][:3] == ["Draft 2", "Draft 1", "Draft 0"]
    assert r.json()["truncated"] is False
    far = {"type": "Polygon", "coordinates": [[[-80, 40], [-79, 40], [-79, 41], [-80, 41], [-80, 40]]]}
    elsewhere, _ = await create_token(system.runtime.store, name="Elsewhere", roles=[Role.alert_approver],
                                      jurisdiction=far, person="Dana Far")
    headers = {"Authorization": f"Bearer {elsewhere}"}
    assert (await http.get(DRAFTS, headers=headers)).json()["drafts"] == []
    r = await http.get(f"{DRAFTS}/{ids[0]}", headers=headers)
    assert r.status_code == 404 and r.json()["detail"].startswith("draft_id: no draft")
    assert (await http.get(DRAFTS, headers=system.auth("coordinator"))).status_code == 403
    assert (await http.get(f"{DRAFTS}?limit=0", headers=originator)).status_code == 422


@asynccontextmanager
async def serving(settings, broker):
    """The system on ``settings`` for the block, stopped after it."""
    system, task, server = await start_system(settings, broker)
    try:
        yield system
    finally:
        await system.http.aclose()
        server.should_exit = True
        await task
        await system.runtime.stop()


async def test_drafts_and_their_trail_are_reproduced_by_a_rebuild(broker, store_url, tmp_path):
    settings = make_settings(broker, store_url, tmp_path)
    async with serving(settings, broker) as system:
        author, approver = await people(system.runtime.store)
        issued = (await system.http.post(DRAFTS, json=presidential(), headers=author)).json()["id"]
        await system.http.post(f"{DRAFTS}/{issued}/approve", headers=approver)
        await system.http.patch(f"{DRAFTS}/{issued}", json={"headline": "Presidential Alert: edited"}, headers=author)
        await system.http.post(f"{DRAFTS}/{issued}/approve", headers=approver)
        assert (await system.http.post(f"{DRAFTS}/{issued}/issue", headers=author)).status_code == 202
        rejected = (await system.http.post(DRAFTS, json=presidential(), headers=author)).json()["id"]
        await system.http.post(f"{DRAFTS}/{rejected}/reject", json={"reason": "duplicate"}, headers=approver)
        assert await system.runtime.wait_applied(timeout_s=30)
        before = [(await system.http.get(f"{DRAFTS}/{d}", headers=approver)).json() for d in (issued, rejected)]
        listed = (await system.http.get(DRAFTS, headers=approver)).json()
        assert [[e["action"] for e in d["trail"]] for d in before] == [
            ["create", "approve", "edit", "approve", "issue"], ["create", "reject"]]
    env = {"EMERGENCY_STORE_URL": store_url, "EMERGENCY_TOPIC_PREFIX": settings.topic_prefix,
           "EMERGENCY_DATA_DIR": str(tmp_path), "EMERGENCY_KAFKA_BOOTSTRAP": broker.bootstrap}
    done = run_cli("rebuild", env=env)
    assert done.returncode == 0, done.stderr
    async with serving(settings, broker) as system:
        after = [(await system.http.get(f"{DRAFTS}/{d}", headers=approver)).json() for d in (issued, rejected)]
        for b, a in zip(before, after, strict=True):
            b.pop("preview"), a.pop("preview")  # computed at each read (its sent time moves)
        assert after == before
        assert (await system.http.get(DRAFTS, headers=approver)).json() == listed


def test_a_bad_approval_setting_is_refused_at_start(tmp_path):
    import pytest

    from alerts.drafts.service import approval_policy
    from emergency.config import Settings

    with pytest.raises(ValueError, match="presidential alerts always need a second person"):
        Settings(alert_approval="presidential=none")
    with pytest.raises(ValueError, match="'public_safety=two' is not TIER=none|one"):
        approval_policy("public_safety=two")
    with pytest.raises(ValueError, match="'panic=one'"):
        approval_policy("panic=one")
    assert approval_policy("") == {t: int(t is Tier.presidential) for t in Tier}


async def test_a_token_names_its_person_on_creation(system):
    admin = system.auth("admin")
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "FEMA duty desk", "roles": ["alert_approver"],
                                                             "person": "Eve Officer"}, headers=admin)
    assert r.status_code == 201 and r.json()["person"] == "Eve Officer" and r.json()["roles"] == ["alert_approver"]
    r = await system.http.post("/api/v1/admin/tokens", json={"name": "x", "roles": ["alert_approver"], "person": ""},
                               headers=admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("person:")


async def test_two_processes_issuing_one_approved_draft_at_once_make_one_alert_and_one_409(broker, store_url,
                                                                                           tmp_path):
    """Two runtimes on one database (each its own per-process lock and connections) issue the same approved draft
    at the same instant: the version column lets one through; the other answers 409 naming the draft and its
    version; one alert is journaled, one issue step is on the trail."""
    import asyncio

    from alerts.journal import ALERT_JOURNAL

    settings = make_settings(broker, store_url, tmp_path)
    async with serving(settings, broker) as one, serving(settings, broker) as two:
        assert one.runtime.store is not two.runtime.store
        author, approver = await people(one.runtime.store)
        did = (await one.http.post(DRAFTS, json=presidential(), headers=author)).json()["id"]
        assert (await two.http.post(f"{DRAFTS}/{did}/approve", headers=approver)).status_code == 200
        answers = await asyncio.gather(one.http.post(f"{DRAFTS}/{did}/issue", headers=author),
                                       two.http.post(f"{DRAFTS}/{did}/issue", headers=approver))
        assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
        lost = next(r for r in answers if r.status_code == 409).json()["detail"]
        assert lost.startswith("draft_id: ") and did in lost and "version" in lost, lost
        alert_id = next(r for r in answers if r.status_code == 202).json()["id"]
        versions = await one.runtime.store.repository(ALERT_JOURNAL).versions(alert_id)
        assert len([v for v in versions if v.kind.value == "alert"]) == 1
        trail = (await two.http.get(f"{DRAFTS}/{did}", headers=approver)).json()["trail"]
        assert [e["action"] for e in trail] == ["create", "approve", "issue"]


async def test_a_step_refused_after_its_claim_gives_the_version_back(system):
    """A step that claimed the draft's version and was then refused leaves the draft open to the next step."""
    author, approver = await people(system.runtime.store)
    http = system.http
    did = (await http.post(DRAFTS, json=presidential(), headers=author)).json()["id"]
    from alerts.drafts.flows import claimed, load
    from emergency.errors import ValidationFailed
    draft = await load(store=system.runtime.store, draft_id=did)
    try:
        async with claimed(store=system.runtime.store, draft=draft, now=draft.updated_at):
            raise ValidationFailed("expires", "refused after the claim")
    except ValidationFailed:
        pass
    assert (await http.post(f"{DRAFTS}/{did}/approve", headers=approver)).status_code == 200
    r = await http.post(f"{DRAFTS}/{did}/approve", headers=approver)
    assert r.status_code == 200
