"""The registry's words in every language it ships (``emergency.i18n.SUPPORTED``: en, es, ko): the check-in
message to a registrant and to their caregiver, the caregiver's confirmation, and the pages their links open.

Plain language, short sentences (the registry's people may read with difficulty, or in a second language).
Read with ``emergency.i18n.translate(CATALOGUE, key, language, **values)``; English is every key's fallback.
"""

from __future__ import annotations

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Emergency near you. Are you safe?",
        "short": "Emergency near you: {headline}. Are you safe?",
        "long": "Emergency near you: {headline}. Are you safe? I am safe: {safe} . I need help: {help} . "
                "No answer in {minutes} minutes? We will send someone.",
        "instruction": "Tap one link. If you need help, stay where you are if it is safe.",
        "cg_subject": "Emergency near {name}. Are they safe?",
        "cg_short": "Emergency near {name}: {headline}. Are they safe?",
        "cg_long": "Emergency near {name}, whom you look after: {headline}. Are they safe? They are safe: {safe} . "
                   "They need help: {help} . No answer in {minutes} minutes? We will send someone.",
        "cg_instruction": "Tap one link for them. If they need help, we will send someone to their home.",
        "confirm_subject": "Emergency registry: please confirm",
        "confirm_long": "You were named as a caregiver on the emergency registry. In an emergency we will "
                        "text you about the person you look after. To agree, open: {url} . If this is wrong, ignore this message.",
        "safe_title": "I am safe",
        "safe_text": "Tap the button to tell us you are safe.",
        "safe_button": "Yes, I am safe",
        "help_title": "I need help",
        "help_text": "Tap the button and we will send someone to you.",
        "help_button": "Yes, I need help",
        "cg_safe_title": "They are safe",
        "cg_safe_text": "Tap the button to tell us the person you look after is safe.",
        "cg_safe_button": "Yes, they are safe",
        "cg_help_title": "They need help",
        "cg_help_text": "Tap the button and we will send someone to the person you look after.",
        "cg_help_button": "Yes, they need help",
        "confirm_title": "Confirm you are the caregiver",
        "confirm_text": "Tap the button to agree that we text you in an emergency about the person you look after.",
        "confirm_button": "Yes, text me",
    },
    "es": {
        "subject": "Emergencia cerca de usted. ¿Está a salvo?",
        "short": "Emergencia cerca de usted: {headline}. ¿Está a salvo?",
        "long": "Emergencia cerca de usted: {headline}. ¿Está a salvo? Estoy a salvo: {safe} . "
                "Necesito ayuda: {help} . ¿No responde en {minutes} minutos? Enviaremos a alguien.",
        "instruction": "Toque un enlace. Si necesita ayuda, quédese donde está si es seguro.",
        "cg_subject": "Emergencia cerca de {name}. ¿Está a salvo?",
        "cg_short": "Emergencia cerca de {name}: {headline}. ¿Está a salvo?",
        "cg_long": "Emergencia cerca de {name}, a quien usted cuida: {headline}. ¿Está a salvo? Está a salvo: "
                   "{safe} . Necesita ayuda: {help} . ¿Nadie responde en {minutes} minutos? Enviaremos a alguien.",
        "cg_instruction": "Toque un enlace por esa persona. Si necesita ayuda, enviaremos a alguien a su casa.",
        "confirm_subject": "Registro de emergencias: confirme, por favor",
        "confirm_long": "Usted figura como cuidador en el registro de emergencias. En una emergencia le "
                        "enviaremos un mensaje sobre la persona que cuida. Para aceptar, abra: {url} . Si es un error, ignore este mensaje.",
        "safe_title": "Estoy a salvo",
        "safe_text": "Toque el botón para decirnos que está a salvo.",
        "safe_button": "Sí, estoy a salvo",
        "help_title": "Necesito ayuda",
        "help_text": "Toque el botón y le enviaremos a alguien.",
        "help_button": "Sí, necesito ayuda",
        "cg_safe_title": "Está a salvo",
        "cg_safe_text": "Toque el botón para decirnos que la persona que usted cuida está a salvo.",
        "cg_safe_button": "Sí, está a salvo",
        "cg_help_title": "Necesita ayuda",
        "cg_help_text": "Toque el botón y enviaremos a alguien a la persona que usted cuida.",
        "cg_help_button": "Sí, necesita ayuda",
        "confirm_title": "Confirme que es el cuidador",
        "confirm_text": "Toque el botón para aceptar que le enviemos mensajes en una emergencia sobre la persona "
                        "que usted cuida.",
        "confirm_button": "Sí, envíenme mensajes",
    },
    "ko": {
        "subject": "근처에 비상 상황이 있습니다. 안전하십니까?",
        "short": "근처 비상 상황: {headline}. 안전하십니까?",
        "long": "근처 비상 상황: {headline}. 안전하십니까? 안전합니다: {safe} . 도움이 필요합니다: {help} . "
                "{minutes}분 안에 답이 없으면 사람을 보내겠습니다.",
        "instruction": "링크 하나를 누르십시오. 도움이 필요하면, 안전한 경우 그 자리에 계십시오.",
        "cg_subject": "{name} 님 근처에 비상 상황이 있습니다. 안전하십니까?",
        "cg_short": "{name} 님 근처 비상 상황: {headline}. 안전하십니까?",
        "cg_long": "돌보시는 {name} 님 근처 비상 상황: {headline}. 안전하십니까? 안전합니다: {safe} . "
                   "도움이 필요합니다: {help} . {minutes}분 안에 답이 없으면 사람을 보내겠습니다.",
        "cg_instruction": "그분을 위해 링크 하나를 누르십시오. 도움이 필요하면 그분 댁으로 사람을 보내겠습니다.",
        "confirm_subject": "비상 등록부: 확인해 주십시오",
        "confirm_long": "귀하는 비상 등록부에 보호자로 등록되었습니다. 비상시 돌보시는 분에 대해 문자를 보내 드립니다. "
                        "동의하시면 여십시오: {url} . 잘못된 경우 이 메시지를 무시하십시오.",
        "safe_title": "안전합니다",
        "safe_text": "버튼을 눌러 안전하다고 알려 주십시오.",
        "safe_button": "네, 안전합니다",
        "help_title": "도움이 필요합니다",
        "help_text": "버튼을 누르시면 사람을 보내겠습니다.",
        "help_button": "네, 도움이 필요합니다",
        "cg_safe_title": "그분은 안전합니다",
        "cg_safe_text": "버튼을 눌러 돌보시는 분이 안전하다고 알려 주십시오.",
        "cg_safe_button": "네, 안전합니다",
        "cg_help_title": "그분은 도움이 필요합니다",
        "cg_help_text": "버튼을 누르시면 돌보시는 분께 사람을 보내겠습니다.",
        "cg_help_button": "네, 도움이 필요합니다",
        "confirm_title": "보호자임을 확인해 주십시오",
        "confirm_text": "버튼을 눌러 비상시 돌보시는 분에 대해 문자를 받는 데 동의해 주십시오.",
        "confirm_button": "네, 문자를 보내 주십시오",
    },
}
