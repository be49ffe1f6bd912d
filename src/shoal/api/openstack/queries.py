"""Query strings read through declared models, with Cinder's and Manila's own 400 messages.

Each route family declares what its calls take in the query as a pydantic model
(`api/share/queries.py`, `api/volume/queries.py`) built from the field types
below; a handler reads the request's query once through it (`read`), and the
same model puts those parameters into the OpenAPI document (`parameters`), where
clients and schemathesis find them. Parameters a model does not declare are
ignored by it (a handler may still pass them on as filters, as upstream does).

The field types carry the upstream rules and wording, which differ by API
(the model is validated with the API's root, "volume" or "share", as context):

- `limit`: an integer >= 0 ("limit param must be an integer" / "... must be
  positive", both APIs) and below 2^63, the database's bound (oslo's wording,
  "limit must be <= ..."); bigger than a page, it is the page's size.
- `offset`: Manila's "offset param must be ..." (below 2^63 too); Cinder's oslo
  validate_integer ("offset must be an integer", "offset must be >= 0", "... <= 2147483647").
- booleans: what oslo's `bool_from_string` accepts (1/0, true/false, yes/no,
  y/n, on/off, t/f, any case); anything else is Cinder's "Value 'x' for 'name'
  is not a boolean." or Manila's "Invalid input received: Unrecognized value
  ...". Manila reads an empty `all_tenants=` as true.
- `sort_dir`: asc or desc (Cinder: any case), else Cinder's "Unknown sort
  direction, must be 'desc' or 'asc'." or Manila's "Wrong sorting data
  provided: ...". Sort keys are checked by the services, which know the columns.
- sizes and other counts: integers from 0 to 2^63-1 (the database's integers).

Whatever the model, `read` refuses a query with a NUL in any key or value (each
API's 400): such text could be neither stored nor looked up.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, get_args

from oslo_utils import strutils
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from .errors import ApiError

MAX_INT = 2**63 - 1  # beyond it the database's integers overflow
CINDER_MAX_OFFSET = 2**31 - 1  # Cinder's constants.DB_MAX_INT


class Query(BaseModel):
    """A route family's query parameters; all optional, other parameters ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


Q = TypeVar("Q", bound=Query)


def _manila(info: ValidationInfo) -> bool:
    return (info.context or {}).get("api") == "share"


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError
    return int(value)  # ValueError for text that is not one (Python's int() as upstream's)


def _paging_integer(value: Any, name: str) -> int:
    """Upstream's pagination wording ("<name> param must be an integer" / "... positive"), below 2^63."""
    try:
        number = _integer(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} param must be an integer") from None
    if number < 0:
        raise ValueError(f"{name} param must be positive")
    if number > MAX_INT:
        raise ValueError(f"{name} must be <= {MAX_INT}")
    return number


def _limit(value: Any, info: ValidationInfo) -> int:
    return _paging_integer(value, "limit")


def _offset(value: Any, info: ValidationInfo) -> int:
    if not _manila(info):
        return strutils.validate_integer(value, "offset", 0, CINDER_MAX_OFFSET)  # its ValueError is the message
    return _paging_integer(value, "offset")


def _count(value: Any, info: ValidationInfo) -> int:
    """A size or another count a filter compares with."""
    try:
        number = _integer(value)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= MAX_INT:
        raise ValueError(f"Invalid input received: {info.field_name} must be a non-negative integer below 2^63")
    return number


def _flag(value: Any, info: ValidationInfo) -> bool:
    name = info.field_name
    if isinstance(value, bool):
        return value
    if _manila(info):
        if value == "" and name == "all_tenants":  # Manila: an empty all_tenants enables it
            return True
        try:
            return strutils.bool_from_string(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"Invalid input received: {exc}") from None
    if not strutils.is_valid_boolstr(value):
        raise ValueError(f"Value '{value}' for '{name}' is not a boolean.")
    return strutils.bool_from_string(value, strict=True)


def _sort_dir(value: Any, info: ValidationInfo) -> str:
    text = str(value).strip()
    if _manila(info):
        if text not in ("asc", "desc"):
            raise ValueError(f"Invalid input received: Wrong sorting data provided: sort key is "
                             f"'{(info.data or {}).get('sort_key') or 'created_at'}' and sort direction is '{text}'.")
        return text
    if text.lower() not in ("asc", "desc"):
        raise ValueError("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.")
    return text.lower()


Limit = Annotated[int, BeforeValidator(_limit)]
Offset = Annotated[int, BeforeValidator(_offset)]
Count = Annotated[int, BeforeValidator(_count)]
Flag = Annotated[bool, BeforeValidator(_flag)]
SortDir = Annotated[str, BeforeValidator(_sort_dir)]


class Paging(Query):
    """What every paged list takes. `sort_key` comes before `sort_dir`: Manila's message names both."""

    limit: Limit | None = None
    offset: Offset | None = None
    marker: str | None = None
    sort_key: str | None = None
    sort_dir: SortDir | None = None


def read(call, model: type[Q]) -> Q:
    """The request's query as `model` declares it; 400 with the API's message when it does not hold.
    A NUL in it was refused when the call was made (`refuse_nul`)."""
    try:
        return model.model_validate(dict(call.request.query_params), context={"api": call.root})
    except ValidationError as exc:
        raise ApiError(400, _message(exc)) from None


def refuse_nul(call) -> None:
    """Every parameter of the query, declared or not (a handler may pass the others on as
    filters): a NUL in a key or a value is the API's 400, never a value stored or looked up."""
    for key, value in call.request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            raise ApiError(400, _NUL_WORDS.get(call.root, _NUL_WORDS["volume"]).format(key.replace("\x00", "\\x00")))


_NUL_WORDS = {  # Cinder's and Manila's InvalidInput, Keystone's ValidationError, Glance's own
    "volume": "Invalid input received: query parameter '{}' must be valid Unicode text without NUL characters",
    "share": "Invalid input received: query parameter '{}' must be valid Unicode text without NUL characters",
    "identity": "Invalid input for field '{}': it must be valid Unicode text without NUL characters.",
    "image": "Query parameter {} must be valid Unicode text without NUL characters",
}


def _message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError) and str(cause):
        return str(cause)
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"Invalid input received: {where}: {error.get('msg', 'invalid')}"


# ---- the OpenAPI document ---------------------------------------------------------------------------

_SCHEMAS = {
    _limit: {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    _offset: {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    _count: {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    _flag: {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no", "y", "n", "on", "off", "t", "f"]},
    _sort_dir: {"type": "string", "enum": ["asc", "desc"]},
}


def _schema(field) -> dict:
    """The field's rule as a JSON schema, found in its Annotated metadata (also inside `X | None`)."""
    metadata = list(field.metadata)
    for arg in get_args(field.annotation):
        metadata += getattr(arg, "__metadata__", ())
    for meta in metadata:
        if isinstance(meta, BeforeValidator) and meta.func in _SCHEMAS:
            return dict(_SCHEMAS[meta.func])
    return {"type": "string"}


def parameters(model: type[Query]) -> dict:
    """`openapi_extra` naming the model's query parameters (FastAPI adds them to the operation's)."""
    out = []
    for name, field in model.model_fields.items():
        entry = {"name": field.alias or name, "in": "query", "required": False, "schema": _schema(field)}
        if field.description:
            entry["description"] = field.description
        out.append(entry)
    return {"parameters": out}
