"""ZFSSA emulator: services, ``/api/service/v1/services[/<svc>]``.

Each service answers ``{"service": {"<status>": "online" | "disabled", ...}}``
(the appliance's literal ``<status>`` key). ``PUT .../<svc>/enable`` and
``.../disable`` switch it (202) and it takes effect: a disabled ``iscsi``
removes every tgtd target, ``nfs`` every ganesha export, ``http`` closes the
WebDAV listener, ``replication`` refuses replication updates. ``PUT
/api/service/v1/services/http`` takes ``https_port`` (the WebDAV listener moves
there) and ``require_login``.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.zfssa import values
from tests.emulators.zfssa.appliance import Appliance, Service
from tests.emulators.zfssa.faults import invalid, not_found, unknown_arg

NAMES = ("iscsi", "nfs", "http", "replication", "rest", "ssh", "smb", "ftp", "ndmp")
HTTP_KEYS = {"https_port", "require_login", "protocols", "listen_port"}


def default_services(https_port: int) -> dict[str, Service]:
    out = {name: Service(name, "online" if name in ("iscsi", "nfs", "http", "replication", "rest", "ssh")
                         else "disabled") for name in NAMES}
    out["http"].props = {"https_port": https_port, "require_login": True, "protocols": "http/https",
                         "listen_port": 80}
    out["iscsi"].props = {"target_chap_name": "", "isns_server": "", "radius_server": ""}
    return out


def _view(svc: Service) -> dict[str, Any]:
    return {"href": f"/api/service/v1/services/{svc.name}", "<status>": svc.status, **svc.props}


def _service(app: Appliance, name: str) -> Service:
    if name not in app.services:
        raise not_found(f"service \"{name}\"")
    return app.services[name]


def list_services(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"services": [{"name": s.name, "<status>": s.status, "href": f"/api/service/v1/services/{s.name}"}
                              for s in app.services.values()]}


def get_service(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"service": _view(_service(app, args["svc"]))}


def switch(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    svc = _service(app, args["svc"])
    svc.status = "online" if args["action"] == "enable" else "disabled"
    app.on_service_change(svc.name)
    return 202, {"service": _view(svc)}


def modify(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    svc = _service(app, args["svc"])
    body = body or {}
    if svc.name != "http":
        for key in body:
            if key not in svc.props:
                raise unknown_arg(key)
        svc.props.update(body)
        return 202, {"service": _view(svc)}
    for key in body:
        if key not in HTTP_KEYS:
            raise unknown_arg(key)
    if "https_port" in body:
        port = body["https_port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise invalid(f"https_port: expected a port number, got {port!r}")
    if "require_login" in body:
        body = {**body, "require_login": values.boolean(body["require_login"], "require_login")}
    old_port = svc.props["https_port"]
    svc.props.update(body)
    if svc.props["https_port"] != old_port:
        try:
            app.on_service_change("http")
        except OSError as exc:
            svc.props["https_port"] = old_port
            app.on_service_change("http")
            raise invalid(f"https_port {body['https_port']}: cannot listen there ({exc.strerror})") from None
    return 202, {"service": _view(svc)}


V = r"/service/v1/services"
ROUTES = [
    ("GET", V, list_services),
    ("GET", V + r"/(?P<svc>[^/]+)", get_service),
    ("PUT", V + r"/(?P<svc>[^/]+)", modify),
    ("PUT", V + r"/(?P<svc>[^/]+)/(?P<action>enable|disable)", switch),
]
