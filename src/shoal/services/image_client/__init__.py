"""The image service volumes use (`ImageClient`): Shoal's built-in Image service or an
external Glance, chosen by `[image] backend` (see `choose_backend`)."""

from __future__ import annotations

import logging
import time

from shoal.config import Settings

from .base import CannotTell, ImageClient, ImageInfo, LocalImage, NotVisible

__all__ = ["CannotTell", "ImageClient", "ImageInfo", "LocalImage", "NotVisible", "choose_backend"]
log = logging.getLogger(__name__)
ASK_FOR = 60.0  # seconds `auto` keeps asking a Keystone that does not answer at start-up


class ImageBackendUnknown(RuntimeError):
    pass


def choose_backend(settings: Settings, keystone_tokens, ask_for: float = ASK_FOR) -> str | None:
    """"builtin", "glance", or None (no image service). `auto` asks Keystone's catalog
    (as Shoal's service user) whether it lists an image service; a Keystone that does
    not answer within `ask_for` stops the start: guessing would put images in the
    wrong place."""
    cfg = settings.image
    if not cfg.enabled:
        return None
    if cfg.backend != "auto":
        return cfg.backend
    if settings.api.auth != "keystone":
        return "builtin"
    from keystoneauth1 import exceptions as ks

    from .glance import catalog_lists_image

    deadline = time.monotonic() + ask_for
    while True:
        try:
            found = catalog_lists_image(keystone_tokens, cfg)
        except ks.ClientException as exc:
            if time.monotonic() >= deadline:
                raise ImageBackendUnknown(
                    f"[image] backend = \"auto\": Keystone at {settings.keystone.auth_url} did not answer "
                    f"({type(exc).__name__}), so whether its catalog lists a Glance is unknown; start Keystone, "
                    "or set [image] backend to \"glance\" or \"builtin\"") from None
            time.sleep(2)
            continue
        choice = "glance" if found else "builtin"
        log.info("[image] backend = \"auto\": Keystone's catalog %s an image service; images are %s",
                 "lists" if found else "does not list", "Glance's" if found else "Shoal's own (at /image)")
        return choice


def build_client(settings: Settings, core, backend: str | None, keystone_tokens, builtin_service) -> ImageClient | None:
    if backend == "glance":
        from .glance import GlanceImages

        return GlanceImages(settings.image, keystone_tokens)
    if backend == "builtin":
        from .builtin import BuiltinImages

        return BuiltinImages(core, builtin_service)
    return None
