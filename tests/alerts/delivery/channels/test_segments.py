"""GSM-7 vs UCS-2 and the number of parts, at the edges."""

from __future__ import annotations

import pytest

from alerts.delivery.channels.segments import segmentation


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("", "gsm7", 0, 0),
    ("a" * 160, "gsm7", 160, 1),                      # exactly one message
    ("a" * 161, "gsm7", 161, 2),                      # one more: two parts of up to 153
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("€" * 80, "gsm7", 160, 1),                       # € is in the extension table: two septets each
    ("a" * 159 + "€", "gsm7", 161, 2),
    ("a" * 152 + "€" + "a" * 8, "gsm7", 162, 2),      # 152 | €aaaaaaaa
    ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),    # 152 | € + 151 | 1
    ("Peligro: evacúe ahora", "ucs2", 21, 1),          # ú is not in GSM-7
    ("Inundación en Foster Rd. ¡Evacúe!", "ucs2", 33, 1),
    ("Niño ¿dónde?", "ucs2", 12, 1),                   # ó is not GSM-7 (ñ and ¿ are)
    ("Niño ¿donde?", "gsm7", 12, 1),
    ("대피하십시오. 홍수 경보", "ucs2", 13, 1),             # Korean
    ("경" * 70, "ucs2", 70, 1),
    ("경" * 71, "ucs2", 71, 2),
    ("경" * 134, "ucs2", 134, 2),
    ("경" * 135, "ucs2", 135, 3),
    ("Flood 🌊", "ucs2", 8, 1),                        # an emoji: UCS-2, and two UTF-16 units
    ("a" * 69 + "🌊", "ucs2", 71, 2),
    ("a" * 66 + "🌊" + "a", "ucs2", 69, 1),
    ("a" * 66 + "🌊" + "a" * 4, "ucs2", 72, 2),        # the surrogate pair is not split: 66 | 🌊aaaa
    ("[Test] {x} ^ | ~ \\", "gsm7", 26, 1),
])
def test_encoding_and_parts(text, encoding, units, segments):
    got = segmentation(text)
    assert (got.encoding, got.units, got.segments) == (encoding, units, segments)
