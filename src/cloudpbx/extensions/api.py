"""REST endpoints for extensions."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from cloudpbx.core.api import (
    ApiValidationError,
    Pagination,
    get_scoped_or_404,
    require_admin,
    tenant_of,
)
from cloudpbx.extensions import services
from cloudpbx.extensions.models import Extension

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


class ExtensionIn(Schema):
    number: str
    name: str = ""


class ExtensionPatch(Schema):
    number: str | None = None
    name: str | None = None


def extensions_of(request: HttpRequest) -> QuerySet[Extension]:
    return Extension.objects.for_tenant(tenant_of(request)).prefetch_related(
        "terminals", "phone_numbers"
    )


@router.get("/", response=list[ExtensionOut])
@paginate(Pagination)
def list_extensions(request: HttpRequest) -> Any:
    return extensions_of(request)


@router.post("/", response={201: ExtensionOut})
def create_extension(request: HttpRequest, payload: ExtensionIn) -> Any:
    require_admin(request)
    try:
        extension = services.create_extension(tenant_of(request), **payload.model_dump())
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return Status(201, extensions_of(request).get(pk=extension.pk))


@router.get("/{int:extension_id}", response=ExtensionOut)
def get_extension(request: HttpRequest, extension_id: int) -> Any:
    return get_scoped_or_404(extensions_of(request), request, extension_id)


@router.patch("/{int:extension_id}", response=ExtensionOut)
def update_extension(request: HttpRequest, extension_id: int, payload: ExtensionPatch) -> Any:
    extension = get_scoped_or_404(extensions_of(request), request, extension_id)
    require_admin(request)
    try:
        services.update_extension(extension, **payload.model_dump(exclude_unset=True))
    except ValidationError as error:
        raise ApiValidationError(error, {}) from error
    return extensions_of(request).get(pk=extension.pk)


@router.delete("/{int:extension_id}", response={204: None})
def delete_extension(request: HttpRequest, extension_id: int) -> Any:
    extension = get_scoped_or_404(extensions_of(request), request, extension_id)
    require_admin(request)
    services.delete_extension(extension)
    return Status(204, None)
