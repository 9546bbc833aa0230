"""CAP model, hardened XML reading and writing in schema order, JSON form."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from alerts.cap.model import Alert
from alerts.cap.validate import check_schema
from alerts.cap.xml import CapError, alert_element, parse_xml, read_alert, read_alerts, write_alert

DATA = Path(__file__).resolve().parents[2] / "data" / "cap"
MESSAGES = sorted((DATA / "messages").glob("*.xml")) + sorted((DATA / "spec_examples").glob("*.xml"))
XSD_RESULTS = {row["file"].replace("cap/sample/", "").replace("cap/", ""): row["result_against_official_OASIS_XSD"]
               for row in csv.DictReader((DATA / "xsd_validation_results.csv").open(encoding="utf-8"))}


def rel(path: Path) -> str:
    return str(path.relative_to(DATA))


@pytest.mark.parametrize("path", MESSAGES, ids=rel)
def test_every_sample_message_survives_parse_write_parse(path):
    for alert in read_alerts(path.read_bytes()):
        written = write_alert(alert)
        assert read_alert(written) == alert
        assert Alert.from_json(alert.to_json()) == alert
        if XSD_RESULTS[rel(path)] == "VALID":  # the written XML validates whenever the input did
            assert check_schema(parse_xml(written), alert.version) == []


def test_the_samples_cover_cap_1_0_1_1_and_1_2_and_say_which_was_read():
    versions = {a.version for p in MESSAGES for a in read_alerts(p.read_bytes())}
    assert versions == {"1.0", "1.1", "1.2"}
    assert read_alert((DATA / "messages" / "google_caplib_weather.xml").read_bytes()).version == "1.1"


def test_elements_are_written_in_schema_order_whatever_the_model_was_built_from():
    alert = read_alert((DATA / "spec_examples" / "oasiscap_v1dot2_appendix_a4.xml").read_bytes())
    shuffled = Alert.model_validate(dict(reversed(list(alert.model_dump().items()))))
    names = [el.tag.split("}")[1] for el in alert_element(shuffled)]
    assert names == ["identifier", "sender", "sent", "status", "msgType", "source", "scope", "info", "info"]
    info_names = [el.tag.split("}")[1] for el in alert_element(shuffled)[7]]
    assert info_names.index("urgency") < info_names.index("eventCode") < info_names.index("headline") < \
        info_names.index("area")


def test_a_message_in_three_languages_keeps_every_info_block():
    alert = read_alert((DATA / "messages" / "google_caplib_canada.xml").read_bytes())
    third = alert.info[0].model_copy(update={"language": "es-US", "headline": "Aviso de tormenta"})
    three = alert.model_copy(update={"info": [*alert.info, third]})
    back = read_alert(write_alert(three))
    assert [i.language for i in back.info] == ["en-CA", "fr-CA", "es-US"]
    assert back.info[2].headline == "Aviso de tormenta" and back == three


def test_signatures_are_kept_byte_for_byte():
    alert = read_alert((DATA / "messages" / "google_caplib_canada_signed.xml").read_bytes())
    assert len(alert.signatures) == 2 and all("SignatureValue" in s for s in alert.signatures)
    assert read_alert(write_alert(alert)).signatures == alert.signatures


@pytest.mark.parametrize("name", ["google_caplib_xee.xml", "google_caplib_xee.atom.xml"])
def test_xxe_samples_are_refused_before_any_entity_or_dtd_is_touched(name):
    with pytest.raises(CapError, match="DOCTYPE: documents with a DTD are refused"):
        read_alerts((DATA / "validator_cases" / "security" / name).read_bytes())


def test_an_internal_entity_bomb_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' \
           b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;</identifier></alert>'
    with pytest.raises(CapError, match="DOCTYPE"):
        read_alert(bomb)


def test_undecodable_bytes_give_a_clear_error():
    bad = b'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' \
          b'<identifier>\xff\xfe</identifier></alert>'
    with pytest.raises(CapError, match="xml: not well-formed or not decodable"):
        read_alert(bad)


def test_iso_8859_1_input_is_decoded_by_its_declaration():
    alert = read_alert((DATA / "messages" / "google_caplib_earthquake-iso8859-1.xml").read_bytes())
    assert read_alert(write_alert(alert)) == alert
    assert b'encoding=\'UTF-8\'' in write_alert(alert)


def test_a_foreign_namespace_is_named_in_the_error():
    with pytest.raises(CapError, match="namespace: 'urn:oasis:names:tc:emergency:alerts:1.2' is not a CAP namespace"):
        read_alert((DATA / "validator_cases" / "invalid" / "capparselib_invalid_xmlns.xml").read_bytes())


def test_envelopes_yield_every_alert_inside():
    assert len(read_alerts((DATA / "messages" / "capparselib_smhi.se.alerts.xml").read_bytes())) == 17
    assert len(read_alerts((DATA / "messages" / "capparselib_rfs.xml").read_bytes())) == 1
