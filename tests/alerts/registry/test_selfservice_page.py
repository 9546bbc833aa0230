"""The self-registration page ``/registry`` in real Chromium against the real system (offline: nothing may leave
127.0.0.1): in Spanish, the address typed gets suggestions from ``GET /api/v1/geocode``; without the consent box
the answer names ``consent``; with it the echo shows the address as matched, the needs and the masked contact and
the token; the code from the (real SMTP) confirmation mail, typed in, makes the registration active; and the
registrant can delete it."""

from __future__ import annotations

import re

from tests.alerts.registry.conftest import mail_text
from tests.alerts.registry.test_selfservice_api import mailed  # noqa: F401 - the fixture
from tests.conftest import eventually, offline_page

SIX_DIGITS = re.compile(r"\b(\d{6})\b")


async def test_register_confirm_and_delete_in_chromium(mailed):  # noqa: F811
    system, box = mailed
    async with offline_page(width=390, height=844, locale="es-ES") as (page, offsite, errors):
        page.set_default_timeout(60_000)  # the machine may be loaded; no timing is asserted
        await page.goto(f"{system.base_url}/registry")
        assert await page.get_attribute("html", "lang") == "es"
        assert "Regístrese" in await page.title()
        await page.fill("#name", "Rosa Parks")
        await page.type("#address", "SE Division St & SE 12th Ave")
        await page.wait_for_function(  # the last answer wins; an earlier one (a shorter text) may come first
            "[...document.querySelectorAll('#places option')].some(o => o.value === "
            "'SE Division St & SE 12th Ave, Portland')")
        await page.fill("#address", "SE Division St & SE 12th Ave, Portland")
        await page.check("#needs input[value=oxygen]")
        await page.fill("#language", "es")
        await page.fill("#email", "rosa.parks@example.org")
        await page.click("#register button[type=submit]")
        await page.wait_for_function("document.getElementById('error').textContent.includes('consent')")
        await page.check("#consent")
        await page.click("#register button[type=submit]")
        await page.wait_for_selector("#echo:not([hidden])")
        assert await page.text_content("#matched") == "SE Division St & SE 12th Ave, Portland"
        assert await page.text_content("#needs_taken") == "Oxígeno"
        assert "r***@example.org" in await page.text_content("#contacts")
        assert len(await page.text_content("#token")) >= 40
        assert await page.get_attribute("#status", "data-status") == "pending_confirmation"
        # the page says when an unconfirmed registration is erased (in Spanish: the page's language)
        assert "si ningún contacto se confirma antes del" in await page.text_content("#status")

        await eventually(lambda: box.count("rosa.parks@example.org") == 1)
        text = mail_text(box.by_rcpt["rosa.parks@example.org"][0])
        assert "confirmación" in text  # the registrant's language
        await page.fill("input.code", SIX_DIGITS.search(text).group(1))
        await page.click("#confirm button[type=submit]")
        await page.wait_for_selector("#status[data-status=active]")
        assert await page.text_content("#status") == "Su registro está activo."

        await page.click("#delete")
        await page.wait_for_selector("#deleted")
    assert offsite == [] and errors == [], (offsite, errors)
