"""The mailed-system fixtures of the registry tests, shared."""

from tests.alerts.registry.conftest import mailed, mailed_short_timer  # noqa: F401
