"""The FastAPI application: intake, picture, alerts, live map, operations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerts.delivery.channels.views import router as channels_router
from alerts.delivery.views import router as delivery_router
from alerts.drafts.service import approval_policy
from alerts.drafts.views import router as drafts_router
from alerts.facilities.views import router as facilities_router
from alerts.page import views as alerts_page
from alerts.registry.selfservice.views import router as registry_selfservice_router
from alerts.registry.views import router as registry_router
from alerts.subscriptions.views import router as subscriptions_router
from alerts.views import router as alerts_router
from emergency import __version__
from emergency.assembly.docs import mount_docs
from emergency.assembly.journal import router as journal_router
from emergency.assembly.openapi import install_openapi
from emergency.assembly.ops import router as ops_router
from emergency.assembly.runtime import Runtime
from emergency.auth.deps import TOKEN_REQUIRED, current_principal
from emergency.auth.tokens import Role, ensure_token
from emergency.auth.views import router as admin_router
from emergency.config import Settings, get_settings
from emergency.cop.incidents.views import router as incidents_router
from emergency.cop.views import router as cop_router
from emergency.http import AuthFirst, BodyLimit, StatusMetrics, install_error_handlers
from feeds.agency.registry.views import router as agencies_admin_router
from feeds.agency.views import BULK_PATH, DAMAGE_PATH
from feeds.agency.views import public_router as road_closures_router
from feeds.agency.views import router as agency_router
from feeds.citizen.page import views as report_page
from feeds.citizen.updates.views import router as reporter_updates_router
from feeds.citizen.views import REPORTS_PATH
from feeds.citizen.views import router as citizen_router
from feeds.external.views import router as external_feeds_router
from feeds.messaging.views import router as messaging_router
from feeds.open311.views import router as open311_router
from feeds.photos.views import router as photos_router
from feeds.photos.views import upload_limit
from feeds.social.views import router as social_router
from mapping.live_map import views as live_map

log = logging.getLogger(__name__)


async def seed_admin(runtime: Runtime) -> None:
    """Store the configured initial admin token (idempotent)."""
    token = runtime.settings.admin_token.get_secret_value()
    assert runtime.store is not None
    if token:
        await ensure_token(runtime.store, token=token, name="initial admin", roles=[Role.admin])


def create_app(settings: Settings | None = None, runtime: Runtime | None = None, *,
               stop_runtime: bool | None = None,
               on_startup: Callable[[Runtime], Awaitable[None]] | None = None) -> FastAPI:
    """The app.

    Without ``runtime`` the app starts and stops its own. With a started ``runtime`` the caller
    owns it, unless ``stop_runtime`` is true (the server then stops it at shutdown, which also
    happens when uvicorn re-raises Ctrl-C after shutting down). ``on_startup`` runs as a
    background task once the app has started, and is cancelled at shutdown.
    """
    settings = settings or (runtime.settings if runtime else get_settings())
    approval_policy(settings.alert_approval)  # a bad EMERGENCY_ALERT_APPROVAL is refused at start, naming the entry
    start = runtime is None
    stop = start if stop_runtime is None else stop_runtime
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            await rt.start()
        await seed_admin(rt)
        extra = asyncio.create_task(on_startup(rt)) if on_startup else None
        try:
            yield
        finally:
            if extra is not None:
                extra.cancel()
                await asyncio.gather(extra, return_exceptions=True)
            if stop:
                await rt.stop()

    app = FastAPI(title="Emergency common operating picture", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # /docs is served from vendored files (docs.py), ReDoc not at all
    app.state.runtime = rt
    install_error_handlers(app)
    for router in (citizen_router, agency_router, agencies_admin_router, road_closures_router, alerts_router,
                   cop_router, admin_router, journal_router, ops_router, social_router, channels_router,
                   subscriptions_router, external_feeds_router, incidents_router, delivery_router, messaging_router,
                   photos_router, open311_router, registry_router, facilities_router, drafts_router,
                   reporter_updates_router):
        app.include_router(router)
    app.include_router(registry_selfservice_router)  # public self-registration (alerts/registry/selfservice)
    live_map.mount(app)
    alerts_page.mount(app)
    report_page.mount(app)
    mount_docs(app)
    install_openapi(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, timeout_s=settings.body_timeout_s,
                       larger={BULK_PATH: settings.bulk_max_bytes,
                               REPORTS_PATH: upload_limit(settings), DAMAGE_PATH: upload_limit(settings)})
    app.add_middleware(AuthFirst, required=current_principal, detail=TOKEN_REQUIRED)  # 401 before the body
    app.add_middleware(StatusMetrics, metrics=rt.metrics)
    return app
