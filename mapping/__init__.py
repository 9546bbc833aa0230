"""Geography and the live map.

Public surface (other packages call these):

- ``mapping.regions.load_region(name_or_dir) -> Region`` — a region pack, cached.
- ``mapping.geocode``: ``geocode``, ``extract_places``, ``reverse``, ``PlaceMatch``.
- ``mapping.zones``: ``zone_geometry``, ``zones_at``, ``expand_codes`` (NWS UGC / SAME codes).
- ``mapping.snap``: ``snap_between``, ``snap_line``, ``SnapError`` (road closures).
- ``mapping.targeting``: ``TargetIndex``, ``Circle``, ``parse_area`` (subscriber targeting).
- ``mapping.live_map``: the coordinator's live map page.
"""
