"""Request bodies read through declared models, which also describe them in the OpenAPI document.

Each API declares what its main operations take as pydantic models
(`api/share/bodies.py`, `api/volume/bodies.py`) built from the field types of
`body_fields.py`. A handler reads the request's JSON object (`call.body()`:
an object, at most MAX_JSON_DEPTH deep, checked before parsing) and validates
the part it needs through its model (`parse`); the same model is the request
body in `/openapi.json` (`body`, `actions`, `plain`), where clients and
schemathesis (tests/integration/test_api_fuzz.py) find it. One declaration
both parses and documents.

A body that does not hold is a 400 with the message the services always gave
(the field types reuse their checks), naming a field by the key the client sent:
Cinder's prefixed "Invalid input received: " as its InvalidInput is, Manila's as
it is. A create takes unknown keys and ignores them, as upstream does; an update
(`Update`) refuses them ("cannot update ..."), and so does a `Strict` action
argument (Cinder's "Additional properties are not allowed (...)"). Rules that
need the database or the domain -- does the type exist, is the share available,
which statuses, which access rules, what a connector holds -- stay with the
services.

Declared so far: create, update and manage of shares, share snapshots, volumes
and volume snapshots; their metadata; share and volume types; transfers;
attachments; volume groups (create, update, from a source) and group snapshots
(create); the share actions with an argument
(extend, shrink, allow/deny access, revert, reset_status, reset_task_state) and
the volume actions of resizing, status, revert, retype, flags,
attach/detach/connections and migration; the snapshots' status actions; share
networks (create, update, actions), their subnets (create, metadata) and
security services (create, update); share groups and group snapshots (create,
update, actions), share group types (create, group specs, access); share
replicas (create, actions); the share migration_start; share quota sets and
quota class sets; share and snapshot instance actions; share type extra specs
(set, and one spec's update), share type access actions and resource locks
(create, update); the volume side's administrative bodies (`api/volume/admin_bodies.py`):
QoS specs (create, keys set/unset), encryption types (create, update), volume
quota sets and quota class sets, volume types' extra specs and access actions,
group types and their specs, os-services (enable, disable, freeze, thaw); the
volume image actions (upload, image metadata set/unset) and every group and
group snapshot action. A body not named here still reads its JSON by hand with the
services' checks. The
identity and image APIs keep their own readers, which refuse text that could
not be stored or answered anywhere in a body (`unsafe_text`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shoal.services.common.checks import check_text
from shoal.services.common.errors import Invalid

from .body_fields import Description, Metadata, Name, Ref
from .errors import ApiError


class Body(BaseModel):
    """A request object: the fields declared, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def first(self, *names: str) -> Any:
        """The first of `names` the client gave (e.g. `name`, then the old `display_name`)."""
        for name in names:
            if name in self.model_fields_set:
                return getattr(self, name)
        return None


class Named(Body):
    """A resource's name and description, under their names and their old ones (display_*)."""

    name: Name | None = None
    display_name: Name | None = None
    description: Description | None = None
    display_description: Description | None = None


class Update(Named):
    """An update's object: the name and description, and only the other fields declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    UNDECLARED: ClassVar[str] = "cannot update {}"  # the 400 for keys not declared


class Strict(Body):
    """An action's argument that takes the fields declared and nothing else (Cinder's schemas)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    UNDECLARED: ClassVar[str] = "Additional properties are not allowed ({})"


class MetadataSet(Body):
    """`{"metadata": {...}}`: the items to set (or, in Manila's item update, the one item)."""

    metadata: Metadata


class Status(Body):
    """A reset_status action's argument, in either API (which statuses exist: the services)."""

    status: Ref


B = TypeVar("B", bound=BaseModel)


def parse(call, model: type[B], data: Any, where: str = "body") -> B:
    """`data` (a part of the body, named `where` in messages) as `model` declares it, else the API's 400."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        message = _message(exc, where, model)
    raise ApiError(400, f"Invalid input received: {message}" if call.root == "volume" else message)


def _message(exc: ValidationError, where: str, model: type[BaseModel]) -> str:
    errors = exc.errors(include_url=False)
    extra = sorted(str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden")
    if extra:
        return getattr(model, "UNDECLARED", "{} not allowed").format(", ".join(extra))
    error = errors[0]
    loc = error.get("loc") or ()
    name = str(loc[-1]) if loc else where
    if error["type"] == "missing":
        return f"'{name}' is a required property"
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return f"{name} must be an object"
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError) and str(cause):
        return _as_sent(str(cause), name, model)
    return f"{name}: {error.get('msg', 'invalid')} (given {_shown(error.get('input'))})"


def _as_sent(text: str, key: str, model: type[BaseModel]) -> str:
    """The field types name a field by its Python name; a client sent it under its alias."""
    for name, field in model.model_fields.items():
        if field.alias == key and text.startswith(name):
            return key + text[len(name):]
    return text


def unsafe_text(data: Any, path: str) -> str | None:
    """Where the first string of `data` (a value or a key, at any depth) holds a NUL or a lone
    surrogate, for a body read without a model: such text could be neither stored nor answered."""
    if isinstance(data, str):
        return None if _clean(data) else path
    if isinstance(data, dict):
        for key, value in data.items():
            inner = f"{path}.{key}" if path else key
            if not _clean(key):
                return f"{path}.<key>" if path else "<key>"
            if (where := unsafe_text(value, inner)) is not None:
                return where
    if isinstance(data, list):
        for n, value in enumerate(data):
            if (where := unsafe_text(value, f"{path}[{n}]")) is not None:
                return where
    return None


def _clean(text: str) -> bool:
    try:
        check_text("text", text, len(text))
    except Invalid:
        return False
    return True


def _shown(value: Any) -> str:
    """A value in a message: escaped (a lone surrogate cannot be sent back as UTF-8) and short."""
    text = json.dumps(value, ensure_ascii=True, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- the OpenAPI document ---------------------------------------------------------------------------

def _schema(model: type[BaseModel] | None) -> dict:
    return model.model_json_schema() if model is not None else {}


def _wrapped(key: str, schema: dict) -> dict:
    return {"type": "object", "required": [key], "properties": {key: schema}}


def _request_body(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def body(key: str, model: type[BaseModel]) -> dict:
    """`{key: {...model...}}`, e.g. `{"share": {"size": 1, ...}}`."""
    return _request_body(_wrapped(key, _schema(model)))


def actions(models: dict[str, type[BaseModel] | None]) -> dict:
    """An action body: one of `{name: {...}}`; None for an action whose argument is ignored."""
    return _request_body({"oneOf": [_wrapped(name, _schema(model)) for name, model in models.items()]})


def plain(model: type[BaseModel]) -> dict:
    """The model's object itself, e.g. `{"metadata": {...}}`."""
    return _request_body(_schema(model))
