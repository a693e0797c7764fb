"""Shared pieces of the REST API: the input-schema policy, pagination and the error shapes
every operation documents. Token auth, tenant scoping and permissions need the accounts and
tenancy apps, so they are in ``cloudpbx.accounts.api`` (core imports no domain app)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import ConfigDict

MAX_PAGE = 1000  # items per page at most
MAX_OFFSET = 2**31 - 1  # beyond any list here; larger numbers overflow the databases' OFFSET


class InputSchema(Schema):
    """Every request body and query schema: a field the API does not know is a 422 naming it
    (``extra_forbidden``), never silently dropped, so a misspelt setting cannot look saved.
    The OpenAPI document shows it as ``additionalProperties: false``."""

    model_config = ConfigDict(extra="forbid")


class BodySchema(InputSchema):
    """A JSON request body: JSON has types, so ``"yes"`` is not a boolean nor ``"5"`` a
    number (a query string has none: its schemas convert, and stay InputSchema)."""

    model_config = ConfigDict(strict=True)  # merged with InputSchema's


class Message(Schema):
    """The body of 400, 401, 403, 404, 409 and 503 answers."""

    detail: str


class ValidationIssue(Schema):
    loc: list[str | int] = Field(
        description='Where: ``["body", "outbound", "custom_number"]``, ``["query", "limit"]``.'
    )
    msg: str = Field(description="What is wrong, in the request's language.")
    type: str = Field(description="A stable code, e.g. ``missing``, ``premium_rate``.")


class ValidationErrors(Schema):
    """The body of a 422: one entry per problem; nothing was saved."""

    detail: list[ValidationIssue]


# The body of each error status an operation can answer (ninja's own 400 for a body that is
# not JSON, 401 from the token check and 404 for Http404 all carry ``{"detail": "…"}`` too).
ERROR_BODIES: dict[int, type[Schema]] = {
    400: Message,
    401: Message,
    403: Message,
    404: Message,
    409: Message,
    422: ValidationErrors,
    503: Message,
}


def max_length(model: type[Model], field: str) -> int:
    """A model field's ``max_length``, for the schema field that feeds it."""
    length = model._meta.get_field(field).max_length  # type: ignore[union-attr]
    assert length is not None, f"{model.__name__}.{field} has no max_length"
    return length


def responses(success: Mapping[int, Any], *errors: int) -> dict[int, Any]:
    """An operation's ``response=``: its success answers, 401 and 422 (every operation needs a
    token and takes parameters) and the other error statuses it can return, each with its
    body schema from ERROR_BODIES: 400 where it takes a JSON body, 403 where a role is needed,
    404 where it names an object, 409 where it may not apply, 503 where it asks Kamailio.
    """
    statuses = sorted({401, 422, *errors})
    return {**success, **{status: ERROR_BODIES[status] for status in statuses}}


class Pagination(LimitOffsetPagination):
    """``limit``/``offset`` with bounds in the schema: out of range is a 422 naming the
    parameter (and its limit), never a database error."""

    class Input(InputSchema):
        limit: int = Field(100, ge=1, le=MAX_PAGE)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)


def validation_detail(
    error: ValidationError, locations: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Turn a model/service ValidationError into the 422 ``detail`` list pydantic errors use.

    ``locations`` maps a model field (or ``device.<field>``) to its path in the request body.
    """
    detail = []
    error_dict = (
        error.error_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.error_list}
    )
    for field, errors in error_dict.items():
        loc = ["body"]
        if field != NON_FIELD_ERRORS:
            loc.extend((locations or {}).get(field, (field,)))
        for item in errors:
            for message in item.messages:
                detail.append({"loc": loc, "msg": message, "type": item.code or "invalid"})
    return detail


class ApiValidationError(Exception):
    """A ValidationError with the request-body locations of its fields attached."""

    def __init__(self, error: ValidationError, locations: Mapping[str, Sequence[str]]):
        super().__init__(error)
        self.detail = validation_detail(error, locations)
