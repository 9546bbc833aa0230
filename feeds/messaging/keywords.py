"""What a text message or mail says: its report category (keywords in English, Spanish and Korean), the language
to answer in, and the answers themselves (an ``emergency.i18n`` catalogue).

The keyword table (``KEYWORDS``), per category, matched on whole words (Latin script, accents folded) or on the
start of a word (Hangul, whose particles attach to the noun: 불이, 연기가):

============  ====================================  ===================================  ==================
category      English                               Spanish                              Korean
============  ====================================  ===================================  ==================
spot_fire     fire, fires, flames, burning, wildfire  incendio, fuego, llamas, quema     불, 화재, 산불
smoke         smoke, smoky, smoking                 humo                                 연기
flooding      flood, flooded, flooding              inundacion, inundado, inundada       홍수, 침수
blocked_road  road blocked/closed, blocked, tree    carretera/calle cortada, cortada,    도로, 통행
              down, closed                          bloqueada, bloqueado
damage        damage, damaged, collapsed            dano, danos, danado, derrumbe        피해, 파손, 붕괴
needs_help    rescue, trapped, injured              rescate, atrapado, herido            구조, 갇힘, 부상
============  ====================================  ===================================  ==================

The earliest mention in the text wins ("smoke from a fire" is smoke). The answers to "What did you see?" are
the words FIRE, SMOKE, FLOOD, ROAD, DAMAGE and RESCUE (and their Spanish and Korean forms): not HELP, which is
issue 11's SMS keyword (alert help) and is answered before any report.
"""

from __future__ import annotations

import re
import unicodedata

from emergency.categories import ReportCategory

C = ReportCategory
KEYWORDS: dict[ReportCategory, tuple[str, ...]] = {
    C.spot_fire: ("fire", "fires", "flames", "burning", "wildfire", "incendio", "fuego", "llamas", "quema",
                  "불", "화재", "산불"),
    C.smoke: ("smoke", "smoky", "smoking", "humo", "연기"),
    C.flooding: ("flood", "flooded", "flooding", "inundacion", "inundado", "inundada", "홍수", "침수"),
    C.blocked_road: ("road blocked", "road closed", "blocked", "tree down", "closed", "carretera cortada",
                     "calle cortada", "cortada", "bloqueada", "bloqueado", "도로", "통행"),
    C.damage: ("damage", "damaged", "collapsed", "dano", "danos", "danado", "derrumbe", "피해", "파손", "붕괴"),
    C.needs_help: ("rescue", "trapped", "injured", "rescate", "atrapado", "herido", "구조", "갇힘", "부상"),
}
# the one-word answers to "What did you see?"
ANSWERS: dict[str, ReportCategory] = {
    "fire": C.spot_fire, "smoke": C.smoke, "flood": C.flooding, "road": C.blocked_road, "damage": C.damage,
    "rescue": C.needs_help, "fuego": C.spot_fire, "humo": C.smoke, "inundacion": C.flooding,
    "carretera": C.blocked_road, "dano": C.damage, "rescate": C.needs_help, "불": C.spot_fire, "연기": C.smoke,
    "홍수": C.flooding, "도로": C.blocked_road, "피해": C.damage, "구조": C.needs_help,
}
SPANISH_WORDS = frozenset({"en", "hay", "el", "la", "los", "las", "calle", "esquina", "cerca", "de", "del", "y",
                           "por", "favor", "aqui", "mucho", "casa", "incendio", "fuego", "llamas", "humo",
                           "inundacion", "inundado", "inundada", "carretera", "cortada", "bloqueada", "bloqueado",
                           "dano", "danos", "danado", "derrumbe", "rescate", "atrapado", "herido"})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "what": "What did you see? Reply FIRE, SMOKE, FLOOD, ROAD, DAMAGE or RESCUE",
        "where": "Where? Reply with street and cross street",
        "where_on": "Where on {label}? Reply with street and cross street",
        "received": "Report received ({category}, {label}). Track it: {link}",
        "category.spot_fire": "fire", "category.smoke": "smoke", "category.flooding": "flood",
        "category.blocked_road": "road blocked", "category.damage": "damage", "category.needs_help": "rescue",
        "category.other": "other",
        "limited": "Too many messages from this number: we read no more for a while. Call 911 in danger.",
        "photos_kept": "{n} photo(s) attached.",
        "photo_refused": "Photo {name} not kept: {reason}",
    },
    "es": {
        "what": "¿Qué vio? Responda FUEGO, HUMO, INUNDACION, CARRETERA, DANO o RESCATE",
        "where": "¿Dónde? Responda con la calle y la calle que la cruza",
        "where_on": "¿Dónde en {label}? Responda con la calle y la calle que la cruza",
        "received": "Reporte recibido ({category}, {label}). Sígalo: {link}",
        "category.spot_fire": "fuego", "category.smoke": "humo", "category.flooding": "inundación",
        "category.blocked_road": "carretera cortada", "category.damage": "daños",
        "category.needs_help": "rescate", "category.other": "otro",
        "limited": "Demasiados mensajes de este número: no leemos más por un tiempo. En peligro llame al 911.",
        "photos_kept": "{n} foto(s) adjunta(s).",
        "photo_refused": "Foto {name} no guardada: {reason}",
    },
    "ko": {
        "what": "무엇을 보셨나요? 불, 연기, 홍수, 도로, 피해 또는 구조 로 답장하세요",
        "where": "어디인가요? 도로와 교차 도로로 답장하세요",
        "where_on": "{label} 의 어디인가요? 도로와 교차 도로로 답장하세요",
        "received": "신고 접수 ({category}, {label}). 확인: {link}",
        "category.spot_fire": "불", "category.smoke": "연기", "category.flooding": "홍수",
        "category.blocked_road": "도로 막힘", "category.damage": "피해", "category.needs_help": "구조",
        "category.other": "기타",
        "limited": "이 번호의 메시지가 너무 많아 잠시 읽지 않습니다. 위험하면 911에 전화하세요.",
        "photos_kept": "사진 {n}장 첨부됨.",
        "photo_refused": "사진 {name} 저장 안 됨: {reason}",
    },
}


def fold(text: str) -> str:
    """Lower case without accents (ñ stays n: "daño" -> "dano"); Hangul unchanged."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def words(text: str) -> list[str]:
    """The folded words of a text."""
    return _WORD.findall(fold(text))


def _hits(tokens: list[str], phrase: str) -> int | None:
    """Where ``phrase`` (folded words) starts in ``tokens``, or None; Hangul matches the start of a word."""
    parts = phrase.split()
    for i in range(len(tokens) - len(parts) + 1):
        window = tokens[i:i + len(parts)]
        if all(w == p or (_HANGUL.match(p) and w.startswith(p)) for w, p in zip(window, parts, strict=True)):
            return i
    return None


def category_of(text: str) -> ReportCategory | None:
    """The category a text names: a one-word answer, else the earliest keyword of the table; None if none."""
    tokens = words(text)
    if len(tokens) == 1 and tokens[0] in ANSWERS:
        return ANSWERS[tokens[0]]
    best: tuple[int, ReportCategory] | None = None
    for category, phrases in KEYWORDS.items():
        for phrase in phrases:
            at = _hits(tokens, phrase)
            if at is not None and (best is None or at < best[0]):
                best = (at, category)
    return best[1] if best else None


def language_of(text: str) -> str | None:
    """The language a text is in, when it tells: Korean when it has Hangul, Spanish when it has a Spanish word,
    keyword or letter (ñ, ¿, ¡, accents); None otherwise (the caller keeps the conversation's, else English)."""
    if _HANGUL.search(text):
        return "ko"
    if re.search(r"[ñáéíóú¿¡]", text.lower()) or set(words(text)) & SPANISH_WORDS:
        return "es"
    return None
