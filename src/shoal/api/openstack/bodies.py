"""Request bodies as the OpenAPI document describes them.

The handlers read their JSON by hand (`call.body()`), with Cinder's and Manila's
own 400 messages; these helpers only put the shape a client sends into
`/openapi.json` (FastAPI's `openapi_extra`), so that a reader -- or a fuzzer
such as schemathesis -- knows what each operation takes. Describing a body here
changes nothing about how it is parsed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """A request object: every field optional, unknown keys allowed (the handler decides)."""

    model_config = ConfigDict(extra="allow")


class Status(Body):
    """A reset_status action's argument, in either API."""

    status: str


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
