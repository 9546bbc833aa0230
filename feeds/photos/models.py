"""A photo as the system keeps it: its content hash, media type and size in pixels."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

PHOTO_FIELD = "photo"  # the multipart part (and the field every photo refusal names)


@dataclass(frozen=True)
class CleanPhoto:
    """A photo checked and re-encoded without any metadata: ``data`` is what is stored, ``sha256`` its hex digest;
    ``gps`` the position its EXIF carried, (lat, lon) in WGS 84 degrees, or None."""

    data: bytes
    sha256: str
    media_type: str
    width: int
    height: int
    gps: tuple[float, float] | None = None


@dataclass(frozen=True)
class StoredPhoto:
    """A photo written under the data directory (``path``), as its owner's event references it."""

    sha256: str
    media_type: str
    width: int
    height: int
    size: int
    path: str
    gps: tuple[float, float] | None = None

    def ref(self) -> dict[str, object]:
        """The reference an event carries under ``attributes.photos`` (no metadata, no GPS)."""
        return {"id": self.sha256, "media_type": self.media_type, "width": self.width, "height": self.height,
                "url": photo_url(self.sha256)}


@dataclass(frozen=True)
class PhotoRecord:
    """One row of the photos repository: a photo (by hash) attached to one owner event (a report)."""

    sha256: str
    owner_id: str
    media_type: str
    width: int
    height: int
    size: int


class PhotoOut(BaseModel):
    """A stored photo as an answer shows it: its id (the SHA-256 of the stored bytes) and where to get it."""

    id: str = Field(description="SHA-256 (hex) of the stored, re-encoded bytes")
    media_type: str
    width: int = Field(description="pixels, after the EXIF orientation was applied")
    height: int = Field(description="pixels, after the EXIF orientation was applied")
    url: str


def photo_url(sha256: str) -> str:
    """The API path of a stored photo."""
    return f"/api/v1/photos/{sha256}"
