"""``emergency cap …``: validate CAP files, convert XML ↔ JSON, sign and verify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from alerts.cap.model import Alert
from alerts.cap.validate import Finding, has_errors, validate_document
from alerts.cap.xml import read_alerts, write_alert
from emergency.errors import EmergencyError
from emergency.geometry import check_area_geometry
from emergency.progress import Progress

PROFILE_SETS = {
    "core": ("schema", "core"),
    "ipaws": ("schema", "core", "ipaws"),
    "wea": ("schema", "core", "ipaws", "wea"),
}


def register(sub: argparse._SubParsersAction) -> None:
    cap = sub.add_parser("cap", help="CAP 1.2 alert messages: validate, convert, sign, verify")
    cs = cap.add_subparsers(dest="cap_command", required=True, metavar="CAP_COMMAND")

    v = cs.add_parser("validate", help="check CAP files (alerts, EDXL-DE envelopes, Atom/RSS index feeds) "
                      "against the XSD and the chosen profile; exits 1 when any file has an error")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE")
    v.add_argument("--profile", choices=sorted(PROFILE_SETS), default="core",
                   help="core = XSD + CAP rules; ipaws = core + IPAWS profile v1.0; wea = ipaws + WEA rules "
                        "(default core; a message declaring IPAWSv1.0 is always held to that profile)")
    v.add_argument("--authority", type=Path, help="GeoJSON (Multi)Polygon the originator may alert in (WGS 84): "
                   "every area must lie inside it")
    v.add_argument("--json", action="store_true", help="one JSON object per file instead of a table")
    v.set_defaults(run=run_validate)

    c = cs.add_parser("convert", help="CAP XML → JSON, or JSON → CAP XML (by the input's first character)")
    c.add_argument("file", type=Path)
    c.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    c.set_defaults(run=run_convert)

    s = cs.add_parser("sign", help="add an enveloped XML-DSig (RSA-SHA256) signature")
    s.add_argument("file", type=Path)
    s.add_argument("--key", type=Path, required=True, help="PEM private key")
    s.add_argument("--cert", type=Path, required=True, help="PEM certificate of that key")
    s.add_argument("-o", "--output", type=Path)
    s.set_defaults(run=run_sign)

    r = cs.add_parser("verify", help="verify a signed CAP message; exits 1 and names the failed check")
    r.add_argument("file", type=Path)
    r.add_argument("--cert", type=Path, required=True, help="trusted PEM certificate")
    r.set_defaults(run=run_verify)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise EmergencyError(f"{path}: no such file")
    return path.read_bytes()


def _authority(path: Path | None) -> dict | None:
    if path is None:
        return None
    doc = json.loads(_read(path))
    geom = doc.get("geometry", doc) if doc.get("type") == "Feature" else doc
    try:
        return check_area_geometry(geom)
    except ValueError as exc:
        raise ValueError(f"--authority: {path}: {exc}") from None


def _table(path: Path, findings: list[Finding], alerts: int) -> str:
    if not findings:
        return f"{path}: OK ({alerts} alert{'s' if alerts != 1 else ''})"
    width = max(len(f.code) for f in findings)
    lines = [f"{path}: {sum(f.level == 'error' for f in findings)} error(s), "
             f"{sum(f.level == 'warning' for f in findings)} warning(s)"]
    lines += [f"  {f.level:<7} {f.code:<{width}}  {f.path}  {f.message}" for f in findings]
    return "\n".join(lines)


def run_validate(settings, args: argparse.Namespace) -> int:
    profiles = PROFILE_SETS[args.profile] + (("authority",) if args.authority else ())
    authority = _authority(args.authority)
    failed = 0
    with Progress("validating", len(args.files)) as bar:
        for path in args.files:
            alerts, findings = validate_document(_read(path), profiles, authority=authority)
            failed += has_errors(findings)
            if args.json:
                print(json.dumps({"file": str(path), "valid": not has_errors(findings),
                                  "alerts": [{"identifier": a.identifier, "version": a.version} for a in alerts],
                                  "findings": [f.as_dict() for f in findings]}))
            else:
                print(_table(path, findings, len(alerts)))
            bar.advance()
    return 1 if failed else 0


def run_convert(settings, args: argparse.Namespace) -> int:
    data = _read(args.file)
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            alert = Alert.from_json(data)
        except ValueError as exc:
            first = str(exc).splitlines()
            raise ValueError(f"{args.file}: not a CAP JSON document: {' '.join(first[:3])}") from None
        out = write_alert(alert)
    else:
        alerts = read_alerts(data)
        out = (alerts[0].to_json() if len(alerts) == 1 else
               "[" + ",\n".join(a.to_json() for a in alerts) + "]").encode() + b"\n"
    _emit(out, args.output)
    return 0


def _emit(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)


def run_sign(settings, args: argparse.Namespace) -> int:
    from alerts.signing import sign

    _emit(sign(_read(args.file), _read(args.key), _read(args.cert)), args.output)
    return 0


def run_verify(settings, args: argparse.Namespace) -> int:
    from alerts.signing import verify

    result = verify(_read(args.file), _read(args.cert))
    if result.ok:
        print(f"{args.file}: signature valid")
        return 0
    print(f"{args.file}: signature check failed: {result.check}: {result.message}")
    return 1
