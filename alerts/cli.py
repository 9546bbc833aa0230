"""``emergency cap …``: validate CAP files, convert XML ↔ JSON, sign and verify; ``emergency alert …``: issue,
update and cancel alerts from the command line through the same flow as the API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from alerts import flows
from alerts.cap.model import Alert
from alerts.cap.validate import Finding, has_errors, validate_document
from alerts.cap.xml import read_alerts, write_alert
from alerts.lifecycle import LifecycleRegistry
from alerts.models import AlertIn
from emergency.errors import EmergencyError, Forbidden
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


    a = sub.add_parser("alert", help="issue, update or cancel a public alert as an alert originator token "
                       "(journaled into the store; a running server publishes it)")
    acs = a.add_subparsers(dest="alert_command", required=True, metavar="ALERT_COMMAND")
    token_help = "alert originator API token (default: the EMERGENCY_TOKEN environment variable)"
    ai = acs.add_parser("issue", help="issue an alert from a JSON file shaped like the body of POST /api/v1/alerts")
    ai.add_argument("file", type=Path)
    au = acs.add_parser("update", help="replace an issued alert's content and area (CAP Update)")
    au.add_argument("alert_id")
    au.add_argument("file", type=Path)
    ac = acs.add_parser("cancel", help="cancel an issued alert (CAP Cancel, AllClear)")
    ac.add_argument("alert_id")
    ac.add_argument("--note", help="a note for the public (replaces the description)")
    for p in (ai, au, ac):
        p.add_argument("--token", default=os.environ.get("EMERGENCY_TOKEN"), help=token_help)
        p.set_defaults(run=run_alert)


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


# --- emergency alert issue | update | cancel ---------------------------------------------------------

def _alert_payload(path: Path) -> AlertIn:
    try:
        return AlertIn.model_validate_json(_read(path))
    except ValidationError as exc:
        from emergency.http import describe_errors

        raise ValueError(f"{path}: {describe_errors(exc.errors())}") from None


def _journal(store):
    """A submitter that journals into the store only; the outbox relay of a running server publishes it."""

    async def submit(event, topic, *, on_conflict="keep"):
        return await store.accept(event, topic, event.id, on_conflict)

    return submit


async def _alert(settings, args: argparse.Namespace) -> str:
    from emergency.auth.tokens import lookup_token
    from emergency.store import open_store

    payload = _alert_payload(args.file) if args.alert_command in ("issue", "update") else None
    store = await open_store(settings.resolved_store_url())
    try:
        principal = await lookup_token(store, args.token or "")
        if principal is None:
            raise Forbidden("--token", "give an active alert originator token (or set EMERGENCY_TOKEN)")
        from alerts.drafts.service import approval_policy

        # the approval policy of the API: a tier that needs a second person is refused here (403 tier) and is
        # drafted and approved through /api/v1/alerts/drafts
        common = {"principal": principal, "submit": _journal(store), "lifecycle": LifecycleRegistry(),
                  "policy": approval_policy(settings.alert_approval)}
        if args.alert_command == "issue":
            accepted = await flows.issue_alert(payload=payload, **common)
        elif args.alert_command == "update":
            accepted = await flows.update_alert(alert_id=args.alert_id, payload=payload, store=store, **common)
        else:
            accepted = await flows.cancel_alert(alert_id=args.alert_id, note=args.note, store=store, **common)
    finally:
        await store.close()
    return accepted.event_id


def run_alert(settings, args: argparse.Namespace) -> int:
    alert_id = asyncio.run(_alert(settings, args))
    print(alert_id)
    print(f"emergency: alert {args.alert_command} journaled as {alert_id}; a running server publishes it",
          file=sys.stderr)
    return 0
