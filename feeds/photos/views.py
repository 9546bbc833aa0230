"""``GET /api/v1/photos/{photo_id}`` (a stored photo, to whoever may see it) and the one reader of report bodies
that carry photos: JSON, or ``multipart/form-data`` with the JSON in one part and up to N ``photo`` parts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from emergency.auth.deps import optional_principal
from emergency.auth.models import TokenRecord
from emergency.config import Settings
from emergency.cop.reads import FULL_READ_ROLES
from emergency.errors import TooLarge, ValidationFailed
from feeds.photos.models import PHOTO_FIELD, StoredPhoto
from feeds.photos.repository import PHOTOS
from feeds.photos.service import accept_photo, photo_for_viewer

router = APIRouter(prefix="/api/v1", tags=["photos"])
CACHE_FULL = "private, max-age=3600"  # a coordinator's copy: never in a shared cache
CACHE_PUBLIC = "public, max-age=300"  # content-addressed, but a report can stop being verified


@router.get("/photos/{photo_id}", response_class=FileResponse, responses={
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}, "description": "the stored photo"},
    404: {"description": "no such photo, or not (yet) public: the same answer"}})
async def get_photo(request: Request, photo_id: str = Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$",
                                                           description="the photo's id (SHA-256 hex)"),
                    principal: TokenRecord | None = Depends(optional_principal)) -> FileResponse:
    """A stored photo: coordinators and admins see every one at once; everyone else only a verified report's
    photos (or an agency input's while it is on the map). Otherwise 404, as for a photo that does not exist."""
    runtime = request.app.state.runtime
    full = principal is not None and bool(FULL_READ_ROLES & set(principal.roles))
    path, media_type = await photo_for_viewer(sha256=photo_id, full=full, events=runtime.store,
                                              repository=runtime.store.repository(PHOTOS),
                                              data_dir=runtime.settings.data_dir)
    return FileResponse(path, media_type=media_type, content_disposition_type="inline",
                        filename=path.name, headers={"X-Content-Type-Options": "nosniff",
                                                     "Cache-Control": CACHE_FULL if full else CACHE_PUBLIC})


def upload_limit(settings: Settings) -> int:
    """The body limit (bytes) of a route that takes photos: every photo at its limit, the JSON part, and room for
    the multipart framing (the JSON form still gets ``max_body_bytes``: :func:`read_submission`)."""
    return settings.photos_per_report * settings.photo_max_bytes + settings.max_body_bytes + 64 * 1024


def submission_body(model: type[BaseModel], *, part: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route read by :func:`read_submission`: JSON, or multipart."""
    schema = _inline(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema},
        "multipart/form-data": {"schema": {"type": "object", "required": [part], "properties": {
            part: {"type": "string", "description": "the same JSON body as the application/json form, as text"},
            PHOTO_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "JPEG, PNG or WebP image files (HEIC refused), each stripped of all "
                                         "metadata before storage"}}}}}}}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined (so it stands alone inside an OpenAPI document)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


async def read_submission(request: Request, *, model: type[BaseModel], part: str,
                          settings: Settings) -> tuple[Any, list[StoredPhoto]]:
    """The validated body of a JSON or multipart request and its stored photos (checked, stripped and written).

    Multipart: exactly one ``part`` with the JSON, up to ``photos_per_report`` ``photo`` file parts, nothing
    else (422 naming the part). JSON: at most ``max_body_bytes``. Field errors name the field, under ``part``
    for multipart (``report.category: ...``)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        raise ValidationFailed("body", f"send JSON (application/json), or multipart/form-data with the JSON in part "
                                       f"{part} and images in {PHOTO_FIELD} parts")
    if not content_type.startswith("multipart/form-data"):
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise TooLarge("body", f"request body is {len(raw)} bytes; the limit is {settings.max_body_bytes} bytes")
        return _validated(model, _json(raw, loc="body"), loc="body"), []
    limit = settings.photos_per_report
    try:
        form_cm = request.form(max_files=limit, max_fields=limit + 2, max_part_size=settings.max_body_bytes)
        form = await form_cm
    except StarletteHTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise ValidationFailed(PHOTO_FIELD, f"at most {limit} photos per report") from None
        if "Too many fields" in str(exc.detail):
            raise ValidationFailed("body", f"a multipart report has one text part, {part}; other parts must be "
                                           f"{PHOTO_FIELD} files") from None
        raise ValidationFailed("body", f"unreadable multipart body: {exc.detail}") from None
    try:
        unknown = sorted({k for k in form.keys() if k not in (part, PHOTO_FIELD)})
        if unknown:
            raise ValidationFailed(unknown[0], f"unknown part; a multipart report has the parts {part} (the JSON "
                                               f"body) and {PHOTO_FIELD} (up to {limit} image files)",
                                   candidates=(part, PHOTO_FIELD))
        values = form.getlist(part)
        if len(values) != 1:
            raise ValidationFailed(part, f"give exactly one {part} part holding the JSON body ({len(values)} given)")
        value = values[0]
        raw = await value.read() if isinstance(value, UploadFile) else value.encode()
        if len(raw) > settings.max_body_bytes:
            raise TooLarge(part, f"the part is {len(raw)} bytes; the limit is {settings.max_body_bytes} bytes")
        body = _validated(model, _json(raw, loc=part), loc=part)
        uploads = form.getlist(PHOTO_FIELD)
        photos = []
        for upload in uploads:
            if not isinstance(upload, UploadFile):
                raise ValidationFailed(PHOTO_FIELD, "must be a file part (Content-Disposition with a filename)")
            data = await upload.read(settings.photo_max_bytes + 1)
            photos.append(await asyncio.to_thread(
                accept_photo, data=data, declared_type=upload.content_type, data_dir=settings.data_dir,
                max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels))
        return body, photos
    finally:
        await form.close()


def _json(raw: bytes, *, loc: str) -> Any:
    """``raw`` parsed as JSON; a decoding error as FastAPI reports it (``loc``: malformed JSON at character N)."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(loc, f"JSON must be UTF-8; byte {exc.start} is not ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        if loc != "body":
            raise ValidationFailed(loc, f"malformed JSON at character {exc.pos}: {exc.msg}") from None
        raise RequestValidationError([{"type": "json_invalid", "loc": (loc, exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None


def _validated(model: type[BaseModel], obj: Any, *, loc: str) -> Any:
    """``obj`` as ``model``; pydantic's errors located under ``loc`` (``body`` strips away in the detail)."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": (loc, *e["loc"])} for e in exc.errors(include_url=False)]) \
            from None
