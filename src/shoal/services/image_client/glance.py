"""Images kept by an external Glance, found in the service catalog of the caller's
token (`[image] backend = "glance"`, or "auto" when Keystone's catalog lists one).

What Cinder does (cinder.image.glance with `[service_user] send_service_user_token`):

- Glance is called as the caller, with the caller's own token, so Glance's policies
  and image visibility apply to the user exactly as they would to `openstack image`;
- the endpoint is the caller's catalog entry of type `image` (the `[image]
  glance_interface`, default public, in `glance_region` if set), unless
  `glance_url` names one (Cinder's `glance_api_servers`);
- with `send_service_token` (default on) Shoal's own service user (`[keystone]`)
  adds its token as `X-Service-Token`, so a long upload or download still
  succeeds after the user's token expired (keystonemiddleware accepts an expired
  user token along with a valid service token of the `service` role).

The caller's catalog comes from Keystone itself: Shoal validates the token again,
with its catalog, as its service user (keystonemiddleware does the same and hands
the catalog on in `X-Service-Catalog`). Each call builds an openstacksdk
Connection on a keystoneauth1 session over that token; the version discovery of
Glance's root is cached across them."""

from __future__ import annotations

import itertools
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shoal.hosts import LocalHost

from ..common.context import RequestContext
from ..common.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    OverQuota,
    ServiceError,
    ServiceUnavailable,
)
from .base import ImageClient, ImageInfo, LocalImage, NotVisible

log = logging.getLogger(__name__)
TIMEOUT = 60.0  # seconds for one call; data transfers stream, each read within it
# What Glance's image record holds beside the image's own properties.
BASE_FIELDS = frozenset((
    "id", "name", "status", "visibility", "protected", "os_hidden", "owner", "disk_format", "container_format",
    "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "created_at",
    "updated_at", "tags", "self", "file", "schema", "locations", "direct_url", "stores"))


def naive_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)  # Python 3.11 reads the Z
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def info_of(record: dict[str, Any]) -> ImageInfo:
    """An ImageInfo from Glance's v2 image document."""
    return ImageInfo(id=record["id"], name=record.get("name"), status=record.get("status", ""),
                     disk_format=record.get("disk_format"), container_format=record.get("container_format"),
                     size=record.get("size"), virtual_size=record.get("virtual_size"),
                     min_disk=record.get("min_disk") or 0, min_ram=record.get("min_ram") or 0,
                     checksum=record.get("checksum"), updated_at=naive_utc(record.get("updated_at")),
                     properties={k: str(v) for k, v in record.items() if k not in BASE_FIELDS and v is not None},
                     visibility=record.get("visibility"))


@dataclass(frozen=True)
class GlanceTicket:
    """An upload in the background: the uploader (its token), the image, and Glance's
    store to put the data in (None: Glance's default)."""

    ctx: RequestContext
    image_id: str
    store: str | None = None


class GlanceImages(ImageClient):
    kind = "glance"
    data_is_local = False

    def __init__(self, image_cfg, keystone_tokens):
        self.cfg = image_cfg
        self.keystone = keystone_tokens  # services.identity.keystone_tokens.KeystoneTokens: its service session
        self._discovery: dict = {}  # keystoneauth1's version discovery cache, shared by every session

    # ---- sessions ---------------------------------------------------------------------------

    def _access(self, token: str):
        """The caller's token as keystoneauth1 AccessInfo, with its catalog; an expired one
        too when the service token goes along (keystonemiddleware's allow_expired, so a long
        copy that started in time still finds Glance)."""
        from keystoneauth1 import access
        from keystoneauth1 import exceptions as ks

        from ..identity.keystone_tokens import identity_url

        url = f"{identity_url(self.keystone.cfg.auth_url or '')}/auth/tokens"
        if self.cfg.send_service_token:
            url += "?allow_expired=1"
        try:
            response = self.keystone.session.get(url, headers={"X-Subject-Token": token}, raise_exc=False, log=False)
        except ks.ClientException as exc:
            raise ServiceUnavailable(f"The identity service (Keystone) is unreachable ({type(exc).__name__}); the "
                                     "image service cannot be found.") from None
        if response.status_code != 200:
            raise ServiceUnavailable(f"Keystone did not give the catalog of the token (it answered "
                                     f"{response.status_code}); the image service cannot be found.")
        return access.create(resp=response)

    def _session(self, token: str | None):
        """A keystoneauth1 session as the caller (with Shoal's service token), or only as
        Shoal's service user when there is no caller (clean-up after a restart)."""
        from keystoneauth1 import session
        from keystoneauth1.identity.access import AccessInfoPlugin
        from keystoneauth1.service_token import ServiceTokenAuthWrapper

        service = self.keystone.session.auth
        if token is None:
            auth = service
        else:
            auth = AccessInfoPlugin(self._access(token))
            if self.cfg.send_service_token:
                auth = ServiceTokenAuthWrapper(user_auth=auth, service_auth=service)
        return session.Session(auth=auth, timeout=TIMEOUT, discovery_cache=self._discovery, app_name="shoal")

    def _proxy(self, ctx: RequestContext | None):
        """openstacksdk's image proxy for `ctx`'s caller (None: Shoal's service user)."""
        from openstack import connection

        if ctx is not None and not ctx.auth_token:
            raise ServiceUnavailable("The image service (Glance) is called with the caller's token, and this "
                                     "request has none.")
        kwargs: dict[str, Any] = {"image_interface": self.cfg.glance_interface}
        if self.cfg.glance_region:
            kwargs["region_name"] = self.cfg.glance_region
        if self.cfg.glance_url:
            kwargs["image_endpoint_override"] = self.cfg.glance_url
        conn = connection.Connection(session=self._session(ctx.auth_token if ctx else None), strict_proxies=True,
                                     global_request_id=ctx.request_id if ctx else None, **kwargs)
        return conn.image

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Glance's and the clients' errors as the service taxonomy."""
        from keystoneauth1 import exceptions as ks
        from openstack import exceptions as sdk

        try:
            yield
        except ServiceError:
            raise
        except (ks.EndpointNotFound, sdk.ServiceDiscoveryException, sdk.EndpointNotFound) as exc:
            raise ServiceUnavailable(f"No image service (Glance) in the service catalog of the token: {exc}") from None
        except sdk.HttpException as exc:
            status = exc.status_code or 0
            detail = (exc.details or exc.message or str(exc)).strip()
            kind = {400: Invalid, 403: Forbidden, 404: NotFound, 409: Conflict, 413: OverQuota}.get(status)
            if kind is not None:
                raise kind(f"Image service (Glance): {detail}") from None
            log.error("Glance failed to %s: %s %s", what, status, detail)
            raise ServiceUnavailable(f"The image service (Glance) failed to {what} (it answered {status}).") from None
        except (ks.ClientException, sdk.SDKException, OSError) as exc:
            log.error("Glance could not %s: %s", what, exc)
            raise ServiceUnavailable(f"The image service (Glance) could not {what}: {type(exc).__name__}.") from None

    # ---- the operations ---------------------------------------------------------------------------

    def find(self, ctx: RequestContext, image_ref: str) -> ImageInfo:
        try:
            uuid.UUID(image_ref)
        except ValueError:
            with self._calling("list images"):
                found = list(itertools.islice(self._proxy(ctx).images(name=image_ref, limit=2), 2))
            if len(found) > 1:
                raise Invalid(f"Invalid input received: Multiple images are named {image_ref}; use the id.") from None
            if not found:
                raise NotFound(f"Image {image_ref} could not be found.") from None
            return self.show(ctx, found[0].id)
        return self.show(ctx, image_ref)

    def show(self, ctx: RequestContext, image_id: str) -> ImageInfo:
        with self._calling("show the image"):
            response = self._proxy(ctx).get(f"/images/{image_id}")
            _raise_for(response)
            return info_of(response.json())

    @contextmanager
    def local_copy(self, ctx: RequestContext, image: ImageInfo, work_dir: Path) -> Iterator[LocalImage]:
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        free = shutil.disk_usage(work_dir).free
        if image.size is not None and image.size > free:  # checked before use, as Cinder's image_conversion_dir
            raise Invalid(f"not enough space in {work_dir} to download image {image.id}: {image.size} bytes "
                          f"needed, {free} free")
        target = work_dir / f".{image.id}.{uuid.uuid4().hex[:8]}.download"
        try:
            with self._calling("download the image"):
                # Streamed to the file in 1 MiB chunks, its os_hash_value (or md5) verified.
                self._proxy(ctx).download_image(image.id, output=str(target))
            size = target.stat().st_size
            if image.size is not None and size != image.size:
                raise Invalid(f"Image {image.id} is unacceptable: {size} bytes arrived, the image records "
                              f"{image.size} bytes")
            yield LocalImage(str(target), LocalHost(), checked=False)
        finally:
            target.unlink(missing_ok=True)

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> ImageInfo:
        with self._calling("create the image"):
            response = self._proxy(ctx).post("/images", json=body)
            _raise_for(response)
            return info_of(response.json())

    def begin_upload(self, ctx: RequestContext, image_id: str, store: str | None = None) -> GlanceTicket:
        return GlanceTicket(ctx, image_id, store)  # Glance checks the store when the data arrives

    def upload(self, ticket: GlanceTicket, path: Path) -> None:
        with self._calling("take the image data"), open(path, "rb") as data:
            headers = {"Content-Type": "application/octet-stream", "X-OpenStack-Image-Size": str(path.stat().st_size)}
            if ticket.store:  # Glance's multi-store header, as Cinder sends it
                headers["X-Image-Meta-Store"] = ticket.store
            response = self._proxy(ticket.ctx).put(f"/images/{ticket.image_id}/file", data=data, headers=headers)
            _raise_for(response)

    def discard(self, image_id: str, ticket: GlanceTicket | None = None) -> None:
        try:
            with self._calling("delete the image"):
                response = self._proxy(ticket.ctx if ticket else None).delete(f"/images/{image_id}")
                if response.status_code != 404:
                    _raise_for(response)
        except ServiceError as exc:
            log.error("image %s: could not remove it from Glance after a failed upload: %s", image_id, exc)

    def lookup(self, image_id: str) -> ImageInfo | None:
        """As Shoal's service user. Glance shows an admin every image (its
        `context_is_admin`), so to an admin a 404 means the image is gone; to a
        service user without the admin role it may only mean the image is not
        visible to it (another project's private image): NotVisible."""
        with self._calling("show the image"):
            response = self._proxy(None).get(f"/images/{image_id}")
            if response.status_code == 404:
                if self._service_user_is_admin():
                    return None
                raise NotVisible(f"Shoal's service user sees no image {image_id}; without the admin role it "
                                 "cannot tell a deleted image from another project's private one")
            _raise_for(response)
            return info_of(response.json())

    def _service_user_is_admin(self) -> bool:
        session = self.keystone.session
        return "admin" in session.auth.get_access(session).role_names

    def on_deleted(self, listener: Callable[[str], None]) -> None:
        pass  # Glance does not tell: the image-volume cache's periodic check asks (`lookup`)


def _raise_for(response) -> None:
    from openstack import exceptions as sdk

    sdk.raise_from_response(response)


def catalog_lists_image(keystone_tokens, image_cfg) -> bool:
    """Does the catalog of Shoal's service user name an image service? (`backend = "auto"`)"""
    from keystoneauth1 import exceptions as ks

    if image_cfg.glance_url:
        return True
    try:
        keystone_tokens.session.get_endpoint(service_type="image", interface=image_cfg.glance_interface,
                                             region_name=image_cfg.glance_region)
    except ks.EndpointNotFound:
        return False
    return True
