"""The field types request bodies are declared with (api/openstack/bodies.py).

Each type validates a value the way the services' checks always have
(services/common/checks.py: the same rules, the same words) and says in the
OpenAPI document what it takes. None of them coerces quietly: a number where a
string is due, a list where an object is, is a 400 naming the field.

- text (`Text(limit)`; `Name`, `Description`, `Ref` for ids and names of other
  resources): a string of at most `limit` characters, valid Unicode without
  NUL -- a lone surrogate would be stored and then break every answer showing it.
- `Size`: a positive integer up to 2^31-1 GiB (digits in a string too, as
  Cinder's schema allows).
- `Metadata`: an object of text keys (1-255) and string values (up to 1023).
- `Flag`: a boolean or a string oslo's strict bool_from_string reads (Manila's
  and Cinder's flags on create); `StrictFlag`: a JSON boolean only.
- `Refs`: a list of ids or names (each as `Ref`).
- `Object`: any JSON object (a connector, driver options), whose content the
  service reads.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, ValidationInfo, WithJsonSchema

from shoal.services.common.checks import MAX_DESCRIPTION, MAX_NAME, MAX_SIZE, check_metadata, check_size, check_text
from shoal.services.common.errors import Invalid
from shoal.services.common.types import check_bool


def _as_value_error(check, *args):
    try:
        return check(*args)
    except Invalid as exc:  # the services' wording, now the body's message
        raise ValueError(str(exc)) from None


def Text(limit: int):  # noqa: N802 - a factory of types, named as one
    def validate(value: Any, info: ValidationInfo) -> str:
        if value is None:  # where None is allowed, the field is declared `Text | None`
            raise ValueError(f"{info.field_name} must be a string")
        _as_value_error(check_text, info.field_name, value, limit)  # a string, or "... must be a string"
        return value

    return Annotated[str, PlainValidator(validate), WithJsonSchema({"type": "string", "maxLength": limit})]


def _size(value: Any, info: ValidationInfo) -> int:
    return _as_value_error(check_size, value, info.field_name)


def _metadata(value: Any) -> dict[str, str]:
    if value is None:  # where None is allowed, the field is declared `Metadata | None`
        raise ValueError("metadata must be an object of string keys and values")
    return _as_value_error(check_metadata, value)


def _flag(value: Any, info: ValidationInfo) -> bool:
    return _as_value_error(check_bool, info.field_name, value)


def _of_type(kind: type, words: str):
    def validate(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, kind):
            raise ValueError(f"{info.field_name} must be {words}")
        return value

    return validate


def _refs(value: Any, info: ValidationInfo) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"{info.field_name} must be a list of names or ids")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{info.field_name} must be a list of names or ids")
        _as_value_error(check_text, info.field_name, item, 255)
    return value


Name = Text(MAX_NAME)
Description = Text(MAX_DESCRIPTION)
Ref = Text(255)  # an id, or the name of a type, zone or host
Size = Annotated[int, PlainValidator(_size), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_SIZE})]
Metadata = Annotated[dict[str, str], PlainValidator(_metadata), WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1023}})]
Flag = Annotated[bool, PlainValidator(_flag), WithJsonSchema({"type": "boolean"})]
StrictFlag = Annotated[bool, PlainValidator(_of_type(bool, "a boolean")), WithJsonSchema({"type": "boolean"})]
Refs = Annotated[list[str], PlainValidator(_refs), WithJsonSchema(
    {"type": "array", "items": {"type": "string", "maxLength": 255}})]
Object = Annotated[dict[str, Any], PlainValidator(_of_type(dict, "an object")), WithJsonSchema({"type": "object"})]
