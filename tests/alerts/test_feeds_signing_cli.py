"""Atom/RSS CAP index feeds, XML-DSig signing, and ``emergency cap …``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from alerts.atom import IndexEntry, atom_index, read_index
from alerts.cap.xml import write_alert
from alerts.signing import sign, verify
from tests.alerts.cap.test_validate import good

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"


def test_our_atom_index_reads_back_with_a_cap_link_per_entry():
    when = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
    body = atom_index([IndexEntry("urn:a1", "Evacuate now", "http://x/api/v1/alerts/a1.xml", when, "Fire")],
                      feed_id="urn:feed", title="Active public alerts", self_link="http://x/api/v1/alerts.atom",
                      updated=when)
    index = read_index(body)
    assert index.findings == [] and index.kind == "atom"
    [entry] = index.entries
    assert (entry.id, entry.title, entry.link, entry.updated) == (
        "urn:a1", "Evacuate now", "http://x/api/v1/alerts/a1.xml", "2030-01-01T18:00:00+00:00")
    assert b'type="application/cap+xml"' in body


@pytest.mark.parametrize("name,entries", [
    ("nws_cap_atom_feed_example_ibm.xml", None), ("google_caplib_ny_index.rss.xml", None),
    ("kde_fpas_au-bom-en.rss.xml", None), ("google_caplib_weather.atom.xml", None),
    ("google_caplib_no_entries.atom.xml", 0),
])
def test_other_agencies_index_feeds_are_read(name, entries):
    index = read_index((DATA / "feeds" / name).read_bytes())
    assert not [f for f in index.findings if f.level == "error"], index.findings
    assert len(index.entries) == entries if entries is not None else index.entries
    assert all(e.link or e.alert for e in index.entries)


def test_feeds_with_embedded_cap_give_the_alerts():
    index = read_index((DATA / "feeds" / "google_caplib_weather.atom.xml").read_bytes())
    assert any(e.alert is not None and e.alert.identifier for e in index.entries)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    def pair(name: str):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
        return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()), cert.public_bytes(serialization.Encoding.PEM))
    return pair("County EM"), pair("Someone else")


def test_a_signed_message_verifies_and_each_tampering_names_the_failed_check(keys):
    (key, cert), (_, other_cert) = keys
    signed = sign(write_alert(good()), key, cert)
    assert b"SignatureValue" in signed
    assert verify(signed, cert).ok
    tampered = signed.replace(b"Evacuate now", b"All clear", 1)
    assert verify(tampered, cert).check == "digest"
    assert verify(signed, other_cert).check in ("certificate", "signature")
    assert verify(write_alert(good()), cert).check == "no-signature"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergency.assembly.cli", "cap", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_validate_prints_a_table_and_exits_nonzero_on_errors():
    ok = DATA / "validator_cases" / "valid" / "google_validator_example_thunderstorm.xml"
    bad = DATA / "validator_cases" / "invalid" / "google_caplib_canada_errors.xml"
    r = cli("validate", str(ok))
    assert r.returncode == 0 and f"{ok}: OK (1 alert)" in r.stdout
    r = cli("validate", str(ok), str(bad))
    assert r.returncode == 1
    assert "error   core.references-format" in r.stdout and "/alert/references" in r.stdout


def test_cli_validate_json_gives_one_object_per_file_and_profiles_add_rules():
    ok = DATA / "validator_cases" / "valid" / "google_validator_example_thunderstorm.xml"
    r = cli("validate", "--json", "--profile", "wea", str(ok), str(ok))
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 2 and r.returncode == 1
    assert "ipaws.code" in {f["code"] for f in lines[0]["findings"]} and lines[0]["valid"] is False
    assert json.loads(cli("validate", "--json", str(ok)).stdout)["valid"] is True  # core profile


def test_cli_convert_xml_to_json_and_back(tmp_path):
    src = DATA / "spec_examples" / "oasis_spec_amber_alert_example.xml"
    as_json = tmp_path / "a.json"
    assert cli("convert", str(src), "-o", str(as_json)).returncode == 0
    assert json.loads(as_json.read_text())["info"][1]["language"] == "es-US"
    r = cli("convert", str(as_json))
    assert r.returncode == 0 and r.stdout.startswith("<?xml") and "<language>es-US</language>" in r.stdout


def test_cli_errors_are_one_line(tmp_path):
    r = cli("convert", str(tmp_path / "missing.xml"))
    assert r.returncode == 2 and r.stderr.strip() == f"emergency: error: {tmp_path / 'missing.xml'}: no such file"
    xee = DATA / "validator_cases" / "security" / "google_caplib_xee.xml"
    r = cli("convert", str(xee))
    assert r.returncode == 2 and "DOCTYPE: documents with a DTD are refused" in r.stderr
    assert "Traceback" not in r.stderr
