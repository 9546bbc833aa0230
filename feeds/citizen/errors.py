"""The citizen intake's refusals in the reporter's language (``Accept-Language``: en, es, ko, via ``emergency.i18n``).

The ``detail`` keeps its form ``field: reason`` (the field is the API's name, never translated); only the reason is
translated. A request with no ``Accept-Language`` (or one choosing English) gets the existing English text,
byte for byte, from the app's error handlers; ``errors`` (the machine-readable list) is never translated.
A reason this catalogue does not know stays English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from emergency.errors import RequestRefused
from emergency.http import describe_errors, validation_errors
from emergency.i18n import FALLBACK, negotiate, translate

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {  # only the keys; English reasons are passed through unchanged
        "missing": "Field required", "enum": "Input should be {expected}", "number": "Input should be a valid number",
        "too_long": "String should have at most {max_length} characters", "extra": "Extra inputs are not permitted",
        "pattern": "has the wrong form", "text": "Input should be a valid string", "range": "must be between {a} and {b}",
        "future": "is in the future", "place": "give lat and lon, or a location_text to geocode",
        "together": "give lat and lon together (or neither, with a location_text)", "no_match": "no match in {rest}",
        "email": "not a usable e-mail address", "contact": "give an e-mail address or a phone number in international "
        "form (+1 503 555 0100)", "q_blank": "give a place, street, address or intersection to look up",
        "at_most": "at most {n} characters", "between": "between {a} and {b}",
    },
    "es": {
        "missing": "campo obligatorio", "enum": "debe ser uno de {expected}", "number": "debe ser un número",
        "too_long": "como máximo {max_length} caracteres", "extra": "campo desconocido", "pattern": "forma incorrecta",
        "text": "debe ser un texto", "range": "debe estar entre {a} y {b}", "future": "está en el futuro",
        "place": "indique lat y lon, o un location_text para ubicarlo",
        "together": "indique lat y lon juntos (o ninguno, con un location_text)",
        "no_match": "ninguna coincidencia en esta región ({rest})", "email": "no es un correo electrónico válido",
        "contact": "indique un correo electrónico o un teléfono en formato internacional (+1 503 555 0100)",
        "q_blank": "escriba un lugar, una calle, una dirección o un cruce", "at_most": "como máximo {n} caracteres",
        "between": "entre {a} y {b}",
    },
    "ko": {
        "missing": "필수 항목입니다", "enum": "{expected} 중 하나여야 합니다", "number": "숫자여야 합니다",
        "too_long": "최대 {max_length}자입니다", "extra": "알 수 없는 항목입니다", "pattern": "형식이 올바르지 않습니다",
        "text": "문자열이어야 합니다", "range": "{a}에서 {b} 사이여야 합니다", "future": "미래 시각입니다",
        "place": "lat과 lon, 또는 위치를 찾을 location_text를 주세요",
        "together": "lat과 lon을 함께 주세요 (또는 둘 다 빼고 location_text를 주세요)",
        "no_match": "이 지역에서 찾을 수 없습니다 ({rest})", "email": "사용할 수 없는 이메일 주소입니다",
        "contact": "이메일 주소 또는 국제 형식의 전화번호를 주세요 (+1 503 555 0100)",
        "q_blank": "장소, 도로, 주소 또는 교차로를 입력하세요", "at_most": "최대 {n}자입니다", "between": "{a}에서 {b} 사이입니다",
    },
}

BY_TYPE = {"missing": "missing", "enum": "enum", "float_type": "number", "float_parsing": "number",
           "string_too_long": "too_long", "extra_forbidden": "extra", "string_pattern_mismatch": "pattern",
           "string_type": "text"}
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (  # our own reasons (English), most specific first
    (re.compile(r"^must be between (?P<a>\S+) and (?P<b>\S+), got .*$"), "range"),
    (re.compile(r"^is in the future\b.*$"), "future"),
    (re.compile(r"^give lat and lon, or a location_text to geocode$"), "place"),
    (re.compile(r"^give lat and lon together .*$"), "together"),
    (re.compile(r"^no match in (?P<rest>.+)$"), "no_match"),
    (re.compile(r"^not a usable e-mail address.*$"), "email"),
    (re.compile(r"^give an e-mail address or a phone number .*$"), "contact"),
    (re.compile(r"^give a place, street, address or intersection to look up$"), "q_blank"),
    (re.compile(r"^at most (?P<n>\d+) characters$"), "at_most"),
    (re.compile(r"^between (?P<a>\d+) and (?P<b>\d+)$"), "between"),
)


def translate_reason(*, reason: str, language: str, error_type: str | None = None,
                     ctx: dict[str, Any] | None = None) -> str:
    """``reason`` (English, a pydantic error's ``msg`` of ``error_type`` or one of ours) in ``language``."""
    if language == FALLBACK:
        return reason
    key = BY_TYPE.get(error_type or "")
    if key is not None:
        return translate(CATALOGUE, key, language, **{k: v for k, v in (ctx or {}).items()
                                                      if k in ("expected", "max_length")})
    for pattern, key in PATTERNS:
        found = pattern.match(reason)
        if found:
            return translate(CATALOGUE, key, language, **found.groupdict())
    return reason


class TranslatedRoute(APIRoute):
    """A route whose 4xx ``detail`` reasons follow ``Accept-Language`` (English: the app's handlers, unchanged)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handle(request)
            except (RequestValidationError, RequestRefused) as exc:
                language = negotiate(request.headers.get("accept-language"))
                if language == FALLBACK or (isinstance(exc, RequestRefused) and exc.status >= 500):
                    raise
                if isinstance(exc, RequestRefused):
                    body: dict[str, Any] = {"detail": f"{exc.field}: "
                                                      f"{translate_reason(reason=exc.message, language=language)}"}
                    if exc.candidates:
                        body["candidates"] = list(exc.candidates)
                    return JSONResponse(body, status_code=exc.status, headers={"Content-Language": language})
                errors = validation_errors(exc)
                shown = [{**e, "msg": translate_reason(reason=e.get("msg", ""), language=language,
                                                       error_type=e.get("type"), ctx=e.get("ctx"))} for e in errors]
                return JSONResponse({"detail": describe_errors(shown), "errors": errors}, status_code=422,
                                    headers={"Content-Language": language})

        return translated
