"""Pydantic shapes for issuing an alert."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.tiers import Tier
from emergency.geometry import AreaGeometry, CircleArea
from emergency.text import SafeText
from emergency.timebounds import AlertExpiry


class AlertArea(BaseModel):
    """Where the alert applies: a GeoJSON Polygon/MultiPolygon (WGS 84 degrees) or a circle (centre in
    WGS 84 degrees, radius in kilometres, at most ``emergency.geometry.MAX_CIRCLE_RADIUS_KM``)."""

    model_config = ConfigDict(extra="forbid")
    polygon: AreaGeometry | None = None
    circle: CircleArea | None = None
    description: SafeText | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _one(self) -> AlertArea:
        if (self.polygon is None) == (self.circle is None):
            raise ValueError("give exactly one of polygon or circle")
        return self


MAX_TRANSLATIONS = 12


class TranslationIn(BaseModel):
    """The alert's texts in another language (one more CAP ``<info>``); the same limits as the first language's."""

    model_config = ConfigDict(extra="forbid")
    headline: SafeText = Field(min_length=1, max_length=140)
    description: SafeText | None = Field(None, max_length=4000)
    instruction: SafeText | None = Field(None, max_length=2000)
    wea_text: SafeText | None = Field(None, min_length=1, max_length=1000,
                                      description="WEA text (at most 90 characters, checked per language)")
    wea_long_text: SafeText | None = Field(None, min_length=1, max_length=4000,
                                           description="WEA 360-character text (checked per language)")


class AlertIn(BaseModel):
    """An alert as an originator submits it."""

    model_config = ConfigDict(extra="forbid")
    tier: Tier
    headline: SafeText = Field(min_length=1, max_length=140)
    description: SafeText | None = Field(None, max_length=4000)
    instruction: SafeText | None = Field(None, max_length=2000)
    event: SafeText | None = Field(None, max_length=100, description="what is happening (e.g. \"Hazardous Materials "
                              "Warning\"); it chooses the SAME event code; default: the tier's default event")
    same_code: SafeText | None = Field(None, min_length=3, max_length=3, description="SAME/EAS event code (e.g. HMW, "
                                  "FRW, EVI); default: chosen from the event (an event naming no EAS event is refused: give it here)")
    area: AlertArea
    expires: AlertExpiry  # emergency.timebounds: at most 30 days ahead
    # Wireless Emergency Alert text. When ``wea_text`` is left out the headline is used, so it must
    # then fit WEA's 90 characters; the CAP validator (alerts.cap.validate, WEA profile) enforces
    # both limits (90 and 360 characters) and names the field it refuses.
    wea_text: SafeText | None = Field(None, min_length=1, max_length=1000)
    wea_long_text: SafeText | None = Field(None, min_length=1, max_length=4000)
    language: SafeText | None = Field(None, max_length=35, description="BCP 47 tag of the texts above (the first "
                                      "CAP info block); default en-US")
    translations: dict[str, TranslationIn] = Field(
        default_factory=dict, max_length=MAX_TRANSLATIONS,
        description="the texts in more languages, by BCP 47 tag (e.g. {\"es-US\": {\"headline\": ...}}): one CAP "
        "info block each, with the same event, urgency, severity, certainty and area; each subscriber gets their "
        "language, or the first block")


class AlertCancelIn(BaseModel):
    """Cancelling an issued alert: an optional note for the public (replaces the description)."""

    model_config = ConfigDict(extra="forbid")
    note: SafeText | None = Field(None, min_length=1, max_length=2000)
