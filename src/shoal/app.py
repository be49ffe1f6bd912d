"""The HTTP application: one port, every API under its own path prefix."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shoal.api import identity, image, metrics, share, volume
from shoal.api.openstack import errors
from shoal.api.openstack.request_ids import RequestIds
from shoal.config import Settings
from shoal.services import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services | None = None, start: bool = True) -> FastAPI:
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start:
            services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(title="Shoal", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    errors.install(app)
    app.add_middleware(RequestIds)
    metrics.mount(app, services)  # /metrics, and request counting around everything above
    if settings.api.auth == "identity":
        identity.mount(app)
    share.mount(app)
    volume.mount(app)
    if settings.image.enabled:
        image.mount(app)
    return app
