"""``emergency agency upload FILE --kind … --token …``: a bulk upload from the command line, through the
same flow as ``POST /api/v1/agency/bulk`` (journaled in the store; a running server publishes it),
with progress on stderr and one JSON line per refused row on stdout."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from emergency.errors import Forbidden, ValidationFailed
from emergency.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    from feeds.agency.flows import BULK_KINDS

    a = sub.add_parser("agency", help="agency inputs: bulk upload a file of one kind")
    asub = a.add_subparsers(dest="agency_command", required=True, metavar="AGENCY_COMMAND")
    u = asub.add_parser("upload", help="upload GeoJSON, CSV, a zipped Shapefile, GeoPackage or KML (any CRS); "
                        "exits 1 when a row was refused")
    u.add_argument("file", type=Path)
    u.add_argument("--kind", required=True, choices=BULK_KINDS)
    u.add_argument("--token", default=os.environ.get("EMERGENCY_TOKEN"),
                   help="the agency's API token (default: the EMERGENCY_TOKEN environment variable)")
    u.add_argument("--all-or-nothing", action="store_true", help="accept nothing when any row is refused")
    u.add_argument("--crs", help="a CSV file's CRS (default WGS 84), e.g. EPSG:32610")
    u.set_defaults(run=run_upload)


def _journal(store):
    """A submitter that journals into the store only; the outbox relay of a running server publishes it."""

    class Journal:
        async def submit(self, event, topic, *, on_conflict="keep"):
            return await store.accept(event, topic, event.id, on_conflict)

    return Journal()


async def _upload(settings, args: argparse.Namespace):
    from emergency.auth.audit import AUDIT
    from emergency.auth.tokens import Role, lookup_token
    from emergency.store import open_store
    from feeds.agency.flows import submit_bulk

    data = args.file.read_bytes()
    if len(data) > settings.bulk_max_bytes:
        raise ValidationFailed("file", f"is {len(data)} bytes; the limit is {settings.bulk_max_bytes} bytes")
    store = await open_store(settings.resolved_store_url())
    try:
        principal = await lookup_token(store, args.token or "")
        if principal is None or Role.agency.value not in principal.roles:
            raise Forbidden("--token", "give an active agency token (or set EMERGENCY_TOKEN)")
        with Progress(f"uploading {args.file.name}", None) as progress:
            return await submit_bulk(kind_path=args.kind, data=data, principal=principal, submitter=_journal(store),
                                     events=store, settings=settings, all_or_nothing=args.all_or_nothing,
                                     crs=args.crs, audit=store.repository(AUDIT), on_progress=progress.update)
    finally:
        await store.close()


def run_upload(settings, args: argparse.Namespace) -> int:
    result = asyncio.run(_upload(settings, args))
    for row in result.results:
        if row.error:
            print(row.model_dump_json(exclude_none=True))
    verb = "journaled" if result.committed else "refused (all or nothing): nothing journaled"
    print(f"emergency: {result.rows} rows of {result.format}: {result.accepted} accepted, {result.rejected} refused; "
          f"{verb}", file=sys.stderr)
    return 0 if not result.rejected else 1
