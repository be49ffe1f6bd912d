"""The HTTP application: one port, every API under its own path prefix."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shoal.api import identity, image, metrics, share, volume
from shoal.api.openstack import errors
from shoal.api.openstack.request_ids import RequestIds
from shoal.api.openstack.routes import index_routes
from shoal.config import Settings
from shoal.services import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services | None = None, start: bool = True) -> FastAPI:
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start:
            services.start()
            # What start-up made lives as long as the process: out of the collector's sight, so
            # that its full collections stop walking it (~300 000 objects: they took 0.1-0.2 s
            # of a 0.3 s page of 1000 shares, bench/listing.py).
            gc.collect()
            gc.freeze()
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
    if services.images is not None:  # the built-in Image service; with an external Glance, no /image
        image.mount(app)
    index_routes(app)
    return app
