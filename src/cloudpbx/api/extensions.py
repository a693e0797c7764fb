"""REST endpoints for extensions."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from cloudpbx.accounts.api import get_scoped_or_404, require_admin, tenant_of
from cloudpbx.core.api import ApiValidationError, BodySchema, Pagination, max_length, responses
from cloudpbx.extensions import services
from cloudpbx.extensions.models import EXTENSION_PATTERN, Extension

router = Router(tags=["extensions"])


class TerminalRef(Schema):
    id: int
    name: str


class ExtensionOut(Schema):
    id: int
    number: str
    name: str
    terminals: list[TerminalRef]
    numbers: list[str]

    @staticmethod
    def resolve_terminals(extension: Extension) -> list[dict[str, Any]]:
        return [{"id": t.pk, "name": t.name} for t in extension.terminals.all()]

    @staticmethod
    def resolve_numbers(extension: Extension) -> list[str]:
        return [n.e164 for n in extension.phone_numbers.all()]


NUMBER = f"^{EXTENSION_PATTERN.pattern}$"
NAME_LENGTH = max_length(Extension, "name")


class ExtensionIn(BodySchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"number": "40", "name": "Sales"}]})

    number: str = Field(pattern=NUMBER, description="2 to 6 digits, not starting with 0.")
    name: str = Field("", max_length=NAME_LENGTH)


class ExtensionPatch(BodySchema):
    number: str | None = Field(None, pattern=NUMBER)
    name: str | None = Field(None, max_length=NAME_LENGTH)


def extensions_of(request: HttpRequest) -> QuerySet[Extension]:
    return Extension.objects.for_tenant(tenant_of(request)).prefetch_related(
        "terminals", "phone_numbers"
    )


@router.get("/", response=responses({200: list[ExtensionOut]}))
@paginate(Pagination)
def list_extensions(request: HttpRequest) -> Any:
    return extensions_of(request)


@router.post("/", response=responses({201: ExtensionOut}, 400, 403))
def create_extension(request: HttpRequest, payload: ExtensionIn) -> Any:
    require_admin(request)
    try:
        extension = services.create_extension(tenant_of(request), **payload.model_dump())
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return Status(201, extensions_of(request).get(pk=extension.pk))


@router.get("/{extension_id}", response=responses({200: ExtensionOut}, 404))
def get_extension(request: HttpRequest, extension_id: int) -> Any:
    return get_scoped_or_404(extensions_of(request), request, extension_id)


@router.patch("/{extension_id}", response=responses({200: ExtensionOut}, 400, 403, 404))
def update_extension(request: HttpRequest, extension_id: int, payload: ExtensionPatch) -> Any:
    extension = get_scoped_or_404(extensions_of(request), request, extension_id)
    require_admin(request)
    try:
        services.update_extension(extension, **payload.model_dump(exclude_unset=True))
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return extensions_of(request).get(pk=extension.pk)


@router.delete("/{extension_id}", response=responses({204: None}, 403, 404))
def delete_extension(request: HttpRequest, extension_id: int) -> Any:
    extension = get_scoped_or_404(extensions_of(request), request, extension_id)
    require_admin(request)
    services.delete_extension(extension)
    return Status(204, None)
