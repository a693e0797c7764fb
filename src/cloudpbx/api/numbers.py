"""REST endpoints for phone numbers: customers read and route them; operators assign them."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from cloudpbx.accounts.api import get_scoped_or_404, require_admin, require_operator, tenant_of
from cloudpbx.api.extensions import NUMBER as EXTENSION_NUMBER
from cloudpbx.core.api import ApiValidationError, BodySchema, Pagination, max_length, responses
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering import services
from cloudpbx.numbering.models import PhoneNumber

router = Router(tags=["numbers"])


class NumberOut(Schema):
    id: int
    e164: str
    is_main: bool
    label: str
    destination: str | None

    @staticmethod
    def resolve_destination(number: PhoneNumber) -> str | None:
        return number.destination.number if number.destination else None


LABEL_LENGTH = max_length(PhoneNumber, "label")
DESTINATION = Field(None, pattern=EXTENSION_NUMBER, description="An extension; null: none.")


class NumberIn(BodySchema):
    e164: str = Field(
        min_length=1, description="E.164, or a national number of the customer's country."
    )
    is_main: bool = False
    label: str = Field("", max_length=LABEL_LENGTH)
    destination: str | None = DESTINATION


class NumberPatch(BodySchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"destination": "10"}]})

    is_main: bool | None = None
    label: str | None = Field(None, max_length=LABEL_LENGTH)
    destination: str | None = DESTINATION


def numbers_of(request: HttpRequest) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.for_tenant(tenant_of(request)).select_related("destination")


def _destination(request: HttpRequest, number: str | None) -> Extension | None:
    if not number:
        return None
    extension = Extension.objects.for_tenant(tenant_of(request)).filter(number=number).first()
    if extension is None:
        raise ApiValidationError(
            ValidationError(
                {"destination": _("Unknown extension: %(numbers)s.") % {"numbers": number}}
            ),
            {},
        )
    return extension


@router.get("/", response=responses({200: list[NumberOut]}))
@paginate(Pagination)
def list_numbers(request: HttpRequest) -> Any:
    return numbers_of(request)


@router.get("/{number_id}", response=responses({200: NumberOut}, 404))
def get_number(request: HttpRequest, number_id: int) -> Any:
    return get_scoped_or_404(numbers_of(request), request, number_id)


@router.post("/", response=responses({201: NumberOut}, 400, 403))
def add_number(request: HttpRequest, payload: NumberIn) -> Any:
    require_operator(request)
    destination = _destination(request, payload.destination)
    try:
        number = services.add_number(
            tenant_of(request),
            e164=payload.e164,
            is_main=payload.is_main,
            label=payload.label,
            destination=destination,
        )
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return Status(201, number)


@router.patch("/{number_id}", response=responses({200: NumberOut}, 400, 403, 404))
def update_number(request: HttpRequest, number_id: int, payload: NumberPatch) -> Any:
    """Customers choose the destination; the main flag and label are the operator's."""
    number = get_scoped_or_404(numbers_of(request), request, number_id)
    sent = payload.model_dump(exclude_unset=True)
    if {"is_main", "label"} & set(sent):
        require_operator(request)
    else:
        require_admin(request)
    changes: dict[str, Any] = {k: v for k, v in sent.items() if k != "destination"}
    if "destination" in sent:
        changes["destination"] = _destination(request, sent["destination"])
    try:
        services.update_number(number, **changes)
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return number


@router.delete("/{number_id}", response=responses({204: None}, 403, 404))
def delete_number(request: HttpRequest, number_id: int) -> Any:
    number = get_scoped_or_404(numbers_of(request), request, number_id)
    require_operator(request)
    services.delete_number(number)
    return Status(204, None)
