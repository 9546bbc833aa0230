"""``/registry``: the public self-registration page in English, Spanish or Korean (``emergency.i18n``). One
self-contained document (its style and script inline, nothing fetched from elsewhere: it works offline): the form
with the consent text, the address typed with suggestions from ``GET /api/v1/geocode?q=``, the echo of what was
understood, and the confirmation step (the code each contact received). The management token is kept in the tab
only (sessionStorage), never in the page's URL."""

from __future__ import annotations

import html

from alerts.registry.models import NEED_PRIORITY
from emergency.i18n import SUPPORTED, translate
from mapping.live_map.page import _json_for_script

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Register for help in an emergency",
        "intro": "If you (or the person you care for) may need help in an emergency, register here. In an "
                 "emergency near you we will ask whether you are safe, and send help if you need it or do not answer.",
        "who": "Who is filling in this form?", "who_self": "I am registering myself",
        "who_caregiver": "I am a caregiver registering someone", "name": "Name of the person",
        "address": "Address (nearest intersection)", "address_hint": "Start typing and pick a suggestion",
        "needs": "What help is needed?", "need_oxygen": "Oxygen", "need_dialysis": "Dialysis",
        "need_mobility": "Mobility (cannot leave alone)", "need_vision": "Vision", "need_hearing": "Hearing",
        "need_service_animal": "Service animal", "need_language": "Language help",
        "language": "Language they speak (es, ko…)", "email": "Email", "phone": "Mobile phone (+15035550100)",
        "caregiver": "Caregiver", "caregiver_name": "Caregiver's name", "caregiver_phone": "Caregiver's phone",
        "caregiver_relation": "Relation (son, home aide…)",
        "consent": "I agree that this information is kept in the emergency registry, read only by registry "
                   "officers, and used to contact and help this person in an emergency. I can change or delete "
                   "it at any time.",
        "submit": "Register", "understood": "What we understood", "matched": "Address matched",
        "needs_taken": "Needs", "contacts": "Contacts", "token": "Your management token (shown once: keep it "
        "to change or delete your registration)",
        "confirm_title": "Confirm your contact", "confirm_text": "We sent a code to each contact. Type it here.",
        "code": "Code", "confirm": "Confirm", "active": "Your registration is active.",
        "pending": "Waiting for confirmation", "expires": "if no contact is confirmed by {at}, this registration "
        "and its personal data are deleted", "delete": "Delete my registration", "deleted": "Your registration "
        "and its personal data are deleted.", "error": "Please check: {detail}",
    },
    "es": {
        "title": "Regístrese para recibir ayuda en una emergencia",
        "intro": "Si usted (o la persona que cuida) puede necesitar ayuda en una emergencia, regístrese aquí. En una "
                 "emergencia cerca de usted le preguntaremos si está a salvo y enviaremos ayuda si la necesita o no "
                 "responde.",
        "who": "¿Quién llena este formulario?", "who_self": "Me registro a mí mismo",
        "who_caregiver": "Soy cuidador y registro a otra persona", "name": "Nombre de la persona",
        "address": "Dirección (cruce más cercano)", "address_hint": "Empiece a escribir y elija una sugerencia",
        "needs": "¿Qué ayuda necesita?", "need_oxygen": "Oxígeno", "need_dialysis": "Diálisis",
        "need_mobility": "Movilidad (no puede salir solo)", "need_vision": "Visión", "need_hearing": "Audición",
        "need_service_animal": "Animal de servicio", "need_language": "Ayuda con el idioma",
        "language": "Idioma que habla (es, ko…)", "email": "Correo electrónico",
        "phone": "Teléfono móvil (+15035550100)", "caregiver": "Cuidador", "caregiver_name": "Nombre del cuidador",
        "caregiver_phone": "Teléfono del cuidador", "caregiver_relation": "Relación (hijo, asistente…)",
        "consent": "Acepto que esta información se guarde en el registro de emergencias, que solo la lean los "
                   "oficiales del registro y que se use para contactar y ayudar a esta persona en una emergencia. "
                   "Puedo cambiarla o borrarla en cualquier momento.",
        "submit": "Registrar", "understood": "Lo que entendimos", "matched": "Dirección encontrada",
        "needs_taken": "Necesidades", "contacts": "Contactos", "token": "Su clave de gestión (se muestra una vez: "
        "guárdela para cambiar o borrar su registro)",
        "confirm_title": "Confirme su contacto", "confirm_text": "Enviamos un código a cada contacto. Escríbalo aquí.",
        "code": "Código", "confirm": "Confirmar", "active": "Su registro está activo.",
        "pending": "Esperando confirmación", "expires": "si ningún contacto se confirma antes del {at}, este "
        "registro y sus datos personales se borran", "delete": "Borrar mi registro",
        "deleted": "Su registro y sus datos personales fueron borrados.", "error": "Revise: {detail}",
    },
    "ko": {
        "title": "비상시 도움을 받기 위해 등록하세요",
        "intro": "귀하(또는 돌보는 분)가 비상시 도움이 필요할 수 있다면 여기에서 등록하세요. 근처에서 비상 상황이 "
                 "발생하면 안전한지 묻고, 도움이 필요하거나 응답이 없으면 도움을 보냅니다.",
        "who": "누가 이 양식을 작성합니까?", "who_self": "본인을 등록합니다", "who_caregiver": "보호자로서 다른 사람을 등록합니다",
        "name": "등록할 분의 이름", "address": "주소 (가장 가까운 교차로)", "address_hint": "입력하고 제안을 선택하세요",
        "needs": "어떤 도움이 필요합니까?", "need_oxygen": "산소", "need_dialysis": "투석",
        "need_mobility": "이동 (혼자 대피 불가)", "need_vision": "시각", "need_hearing": "청각",
        "need_service_animal": "보조견", "need_language": "언어 지원", "language": "사용하는 언어 (es, ko…)",
        "email": "이메일", "phone": "휴대전화 (+15035550100)", "caregiver": "보호자", "caregiver_name": "보호자 이름",
        "caregiver_phone": "보호자 전화번호", "caregiver_relation": "관계 (아들, 간병인…)",
        "consent": "이 정보가 비상 등록부에 보관되고, 등록 담당관만 열람하며, 비상시 이 분에게 연락하고 도움을 주는 데 "
                   "사용되는 것에 동의합니다. 언제든지 변경하거나 삭제할 수 있습니다.",
        "submit": "등록", "understood": "확인된 내용", "matched": "찾은 주소", "needs_taken": "필요 사항",
        "contacts": "연락처", "token": "관리 토큰 (한 번만 표시됩니다: 등록을 변경하거나 삭제하려면 보관하세요)",
        "confirm_title": "연락처 확인", "confirm_text": "각 연락처로 코드를 보냈습니다. 여기에 입력하세요.",
        "code": "코드", "confirm": "확인", "active": "등록이 활성화되었습니다.", "pending": "확인 대기 중",
        "expires": "{at}까지 연락처가 하나도 확인되지 않으면 이 등록과 개인 정보가 삭제됩니다",
        "delete": "내 등록 삭제", "deleted": "등록과 개인 정보가 삭제되었습니다.", "error": "확인하세요: {detail}",
    },
}

PAGE = """<!doctype html>
<html lang="__LANG__"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:18px system-ui,sans-serif;margin:1rem auto;max-width:40rem;padding:0 1rem;line-height:1.45;color:#222}
label{display:block;margin:.6rem 0}input[type=text],input[type=email],input[type=tel]{width:100%;font-size:1rem;
padding:.4rem;box-sizing:border-box}fieldset{margin:1rem 0}button{font-size:1.1rem;padding:.6rem 1.4rem}
#error{color:#b00020}#token{word-break:break-all;background:#f4f4f4;padding:.4rem}.inline{display:inline}</style>
</head><body>
<nav>__LANGS__</nav>
<h1>__TITLE__</h1><p>__INTRO__</p>
<form id="register">
<fieldset><legend>__WHO__</legend>
<label class="inline"><input type="radio" name="registered_by" value="self" checked> __WHO_SELF__</label><br>
<label class="inline"><input type="radio" name="registered_by" value="caregiver"> __WHO_CAREGIVER__</label></fieldset>
<label>__NAME__ <input type="text" id="name" required maxlength="200" autocomplete="off"></label>
<label>__ADDRESS__ <input type="text" id="address" list="places" required maxlength="500" autocomplete="off"
 placeholder="__ADDRESS_HINT__"></label><datalist id="places"></datalist>
<fieldset id="needs"><legend>__NEEDS__</legend>__NEED_BOXES__</fieldset>
<label>__LANGUAGE__ <input type="text" id="language" maxlength="35" autocomplete="off"></label>
<label>__EMAIL__ <input type="email" id="email" maxlength="254" autocomplete="off"></label>
<label>__PHONE__ <input type="tel" id="phone" maxlength="32" autocomplete="off"></label>
<fieldset><legend>__CAREGIVER__</legend>
<label>__CAREGIVER_NAME__ <input type="text" id="cg_name" maxlength="200" autocomplete="off"></label>
<label>__CAREGIVER_PHONE__ <input type="tel" id="cg_phone" maxlength="32" autocomplete="off"></label>
<label>__CAREGIVER_RELATION__ <input type="text" id="cg_relation" maxlength="100" autocomplete="off"></label></fieldset>
<label><input type="checkbox" id="consent"> __CONSENT__</label>
<button type="submit">__SUBMIT__</button></form>
<p id="error" role="alert"></p>
<section id="echo" hidden><h2>__UNDERSTOOD__</h2><dl>
<dt>__MATCHED__</dt><dd id="matched"></dd><dt>__NEEDS_TAKEN__</dt><dd id="needs_taken"></dd>
<dt>__CONTACTS__</dt><dd id="contacts"></dd></dl>
<p>__TOKEN__</p><p id="token"></p>
<p id="status"></p>
<form id="confirm"><h2>__CONFIRM_TITLE__</h2><p>__CONFIRM_TEXT__</p><div id="codes"></div>
<button type="submit">__CONFIRM__</button></form>
<p><button type="button" id="delete">__DELETE__</button></p></section>
<script>
"use strict";
const CONFIG = __CONFIG__;
const S = CONFIG.strings;
const $ = id => document.getElementById(id);
let reg = null, token = null;
function fail(detail) { $("error").textContent = S.error.replace("{detail}", detail); }
async function call(method, path, body) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const d = data.detail;
    throw new Error((typeof d === "string" ? d : JSON.stringify(d)) +
                    (data.candidates && data.candidates.length ? " (" + data.candidates.join("; ") + ")" : ""));
  }
  return data;
}
let timer = null;  // a suggestion is sent as text: the server geocodes it again (a district is refused, never guessed)
$("address").addEventListener("input", () => {
  clearTimeout(timer);
  const q = $("address").value.trim();
  if (q.length < 3) return;
  timer = setTimeout(async () => {
    try {
      const r = await fetch(CONFIG.geocode + "?q=" + encodeURIComponent(q));
      if (!r.ok) return;
      const places = (await r.json()).candidates || [];
      const list = $("places"); list.replaceChildren();
      for (const p of places) { const o = document.createElement("option"); o.value = p.label; list.append(o); }
    } catch (e) { /* suggestions are a help only */ }
  }, 250);
});
function show(data) {
  reg = data;
  $("echo").hidden = false;
  $("matched").textContent = data.location.label;
  $("needs_taken").textContent = data.needs.map(n => S["need_" + n] || n).join(", ");
  $("contacts").textContent = data.channels.map(c => c.contact + (c.confirmed ? " ✓" : "")).join(", ");
  $("status").textContent = data.status === "active" ? S.active : S.pending + (data.unconfirmed_expires_at
    ? " — " + S.expires.replace("{at}", new Date(data.unconfirmed_expires_at).toLocaleString(document.documentElement.lang))
    : "");
  $("status").dataset.status = data.status;
  const codes = $("codes"); codes.replaceChildren();
  for (const c of data.channels.filter(c => !c.confirmed)) {
    const label = document.createElement("label");
    label.textContent = S.code + " (" + c.contact + ") ";
    const input = document.createElement("input");
    input.type = "text"; input.inputMode = "numeric"; input.dataset.channel = c.channel_id; input.className = "code";
    label.append(input); codes.append(label);
  }
  $("confirm").hidden = data.status === "active";
}
$("register").addEventListener("submit", async e => {
  e.preventDefault();
  $("error").textContent = "";
  const channels = [];
  if ($("email").value.trim()) channels.push({type: "email", address: $("email").value.trim()});
  if ($("phone").value.trim()) channels.push({type: "sms", number: $("phone").value.trim()});
  const body = {registered_by: document.querySelector("input[name=registered_by]:checked").value,
                name: $("name").value, address: $("address").value, channels,
                needs: [...document.querySelectorAll("#needs input:checked")].map(i => i.value),
                consent: $("consent").checked};
  if ($("language").value.trim()) body.language = $("language").value.trim();
  if ($("cg_name").value.trim()) body.caregiver = {name: $("cg_name").value.trim(),
    phone: $("cg_phone").value.trim() || null, relation: $("cg_relation").value.trim() || null};
  try {
    const data = await call("POST", CONFIG.path, body);
    token = data.token;
    sessionStorage.setItem("registry-token", token);
    $("token").textContent = token;
    $("register").hidden = true;
    show(data);
  } catch (err) { fail(err.message); }
});
$("confirm").addEventListener("submit", async e => {
  e.preventDefault();
  $("error").textContent = "";
  try {
    for (const input of document.querySelectorAll("input.code")) {
      if (input.value.trim()) await call("POST", CONFIG.path + "/" + reg.id + "/confirm",
                                         {channel: input.dataset.channel, code: input.value.trim()});
    }
    show(await call("GET", CONFIG.path + "/" + reg.id));
  } catch (err) { fail(err.message); }
});
$("delete").addEventListener("click", async () => {
  try {
    await call("DELETE", CONFIG.path + "/" + reg.id);
    $("echo").replaceChildren(Object.assign(document.createElement("p"), {textContent: S.deleted, id: "deleted"}));
    sessionStorage.removeItem("registry-token");
  } catch (err) { fail(err.message); }
});
</script></body></html>
"""


def registry_page(*, language: str) -> str:
    """The page in ``language`` (one of ``SUPPORTED``); every text escaped, the config a safe script literal."""
    def t(key: str) -> str:
        return html.escape(translate(STRINGS, key, language))

    boxes = "".join(f'<label class="inline"><input type="checkbox" value="{n.value}"> {t("need_" + n.value)}</label><br>'
                    for n in NEED_PRIORITY)
    langs = " · ".join(f'<a href="?lang={code}" hreflang="{code}">{code}</a>' for code in SUPPORTED)
    strings = {key: translate(STRINGS, key, language) for key in STRINGS["en"]}
    config = {"lang": language, "strings": strings, "path": "/api/v1/registry/registrations",
              "geocode": "/api/v1/geocode"}
    page = PAGE.replace("__NEED_BOXES__", boxes).replace("__LANGS__", langs).replace("__LANG__", language)
    page = page.replace("__CONFIG__", _json_for_script(config))
    for key in STRINGS["en"]:
        page = page.replace(f"__{key.upper()}__", t(key))
    return page
