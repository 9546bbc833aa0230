"""Settings: secrets never show in a repr, a str or a JSON dump, and every use still reads them."""

from __future__ import annotations

from emergency.config import Settings

SECRETS = {"admin_token": "adm-s3cret-1", "twitter_bearer_token": "tw-s3cret-2", "mastodon_access_token": "md-s3cret-3"}


def test_secret_settings_are_hidden_in_repr_str_and_dumps():
    settings = Settings(**SECRETS)
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())]
    for text in shown:
        for value in SECRETS.values():
            assert value not in text, text
    assert {k: getattr(settings, k).get_secret_value() for k in SECRETS} == SECRETS


def test_secret_settings_come_from_the_environment(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(f"EMERGENCY_{name.upper()}", value)
    settings = Settings()
    assert {k: getattr(settings, k).get_secret_value() for k in SECRETS} == SECRETS
    assert Settings(_env_file=None).admin_token.get_secret_value() == SECRETS["admin_token"]
