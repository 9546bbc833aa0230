"""Build the Columbus, Ohio test region (sample_data/regions/columbus) from the shared source data.

Reads ``geo/roads/columbus_named_roads_osm.geojson`` (OSM, ODbL),
``geo/gazetteers/geonames_cities500_US_CA_OR_OH_MD.json`` (GeoNames, CC BY 4.0) and
``geo/cap_geocodes/nws_ugc_OH.geojson`` (NWS, public domain) under ``$EMERGENCY_SHARED_DATA``
(default ``../shared/data`` from the project root). Deterministic output. Roads are cut to
central Columbus (``ROAD_BOX``) to keep the committed data small.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from shapely.geometry import box, shape

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EMERGENCY_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "sample_data" / "regions" / "columbus"
ROAD_BOX = (-83.03, 39.94, -82.965, 39.993)  # lon/lat: downtown, Short North, German Village, Near East
PLACE_BOX = (-83.8, 39.5, -82.2, 40.5)       # places around Columbus, plus Ohio's places of 50,000 or more
BIG_PLACE = 50_000
ZONE_BOX = (-83.6, 39.6, -82.4, 40.4)
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"


def _round(coords: list) -> list:
    out: list = []
    for x, y in coords:
        p = [round(x, 6), round(y, 6)]
        if not out or out[-1] != p:
            out.append(p)
    return out


def roads() -> tuple[list[str], tuple[float, float, float, float]]:
    src = json.loads((SHARED / "geo/roads/columbus_named_roads_osm.geojson").read_text())
    area = box(*ROAD_BOX)
    lines, bounds = [], [180.0, 90.0, -180.0, -90.0]
    for f in sorted(src["features"], key=lambda f: f["id"]):
        props = f.get("properties") or {}
        if f["geometry"]["type"] != "LineString" or not shape(f["geometry"]).intersects(area):
            continue
        if props.get("highway") == "service":  # parking aisles and driveways: never named in reports
            continue
        coords = _round(f["geometry"]["coordinates"])
        if len(coords) < 2:
            continue
        for x, y in coords:
            bounds = [min(bounds[0], x), min(bounds[1], y), max(bounds[2], x), max(bounds[3], y)]
        feat = {"type": "Feature", "id": f["id"], "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"name": props.get("name"), "ref": props.get("ref"), "highway": props.get("highway")}}
        lines.append(json.dumps(feat, ensure_ascii=False, separators=(",", ":")))
    return lines, tuple(bounds)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines, bbox = roads()
    head = {"type": "FeatureCollection", "name": "Columbus OH named roads (OpenStreetMap)",
            "attribution": ATTRIBUTION, "license": "ODbL-1.0"}
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":[\n'
    (OUT / "roads.geojson").write_text(text + ",\n".join(lines) + "\n]}\n", encoding="utf-8")

    rows = json.loads((SHARED / "geo/gazetteers/geonames_cities500_US_CA_OR_OH_MD.json").read_text())
    def keep(r: dict) -> bool:
        near = PLACE_BOX[0] <= r["longitude"] <= PLACE_BOX[2] and PLACE_BOX[1] <= r["latitude"] <= PLACE_BOX[3]
        return r["admin1code"] == "OH" and (near or r["population"] >= BIG_PLACE)

    # alternate names are kept for big places only (the geocoder uses no others)
    places = [{"geonameid": r["geonameid"], "name": r["name"], "lat": r["latitude"], "lon": r["longitude"],
               "population": r["population"], "admin1code": r["admin1code"],
               **({"alternatenames": r["alternatenames"]}
                  if r.get("alternatenames") and r["population"] >= BIG_PLACE else {})}
              for r in rows if keep(r)]
    places.sort(key=lambda p: (-p["population"], p["geonameid"]))
    (OUT / "places.json").write_text(
        "[\n" + ",\n".join(json.dumps(p, ensure_ascii=False, separators=(",", ":")) for p in places) + "\n]\n",
        encoding="utf-8")

    zsrc = json.loads((SHARED / "geo/cap_geocodes/nws_ugc_OH.geojson").read_text())
    zarea = box(*ZONE_BOX)
    feats = sorted((f for f in zsrc["features"] if shape(f["geometry"]).intersects(zarea)),
                   key=lambda f: f["properties"]["UGC"])
    zones = {"type": "FeatureCollection", "name": "NWS UGC zones and counties around Columbus OH",
             "features": feats}
    (OUT / "zones.geojson").write_text(json.dumps(zones, separators=(",", ":")) + "\n", encoding="utf-8")

    franklin = next(f for f in feats if f["properties"]["UGC"] == "OHC049")
    region = {
        "name": "Columbus, Ohio",
        "center": [round((bbox[1] + bbox[3]) / 2, 6), round((bbox[0] + bbox[2]) / 2, 6)],
        "zoom": 13, "bbox": [round(v, 6) for v in bbox], "timezone": "America/New_York",
        "jurisdiction_agency": "City of Columbus",
        "coverage": "central Columbus: named streets from Dublin Rd east to Bryden Rd and from Joyce Ave south to Deshler Ave, plus Ohio towns (GeoNames) and NWS zones",
        "jurisdiction": franklin["geometry"],
        "jurisdiction_source": {"ugc": "OHC049", "name": "Franklin County", "fips": "39049",
                                "note": "NWS county polygon used as a stand-in for the city"},
        "files": {"roads": "roads.geojson", "places": "places.json", "zones": "zones.geojson"},
        "attribution": ["© OpenStreetMap contributors, ODbL 1.0", "Places: GeoNames, CC BY 4.0",
                        "Zones: U.S. National Weather Service"],
    }
    (OUT / "region.json").write_text(json.dumps(region, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
