"""The REST API at /api/v1/ (OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs)."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError as SchemaValidationError
from ninja.operation import Operation

from cloudpbx import __version__
from cloudpbx.accounts.api import TokenAuth
from cloudpbx.api.extensions import router as extensions_router
from cloudpbx.api.numbers import router as numbers_router
from cloudpbx.api.phones import router as phone_actions_router
from cloudpbx.api.terminals import router as terminals_router
from cloudpbx.core.api import ApiValidationError

# The OpenAPI operationIds as they were before the routers moved here from the domain apps
# (issue 17): django-ninja derives them from the module, and clients generate code from them.
_OPERATION_ID_PREFIXES = {
    "cloudpbx.api.terminals": "cloudpbx_terminals_api",
    "cloudpbx.api.extensions": "cloudpbx_extensions_api",
    "cloudpbx.api.numbers": "cloudpbx_numbering_api",
    "cloudpbx.api.phones": "cloudpbx_provisioning_api",
}


class Api(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        prefix = _OPERATION_ID_PREFIXES.get(operation.view_func.__module__)
        if prefix is None:
            return super().get_openapi_operation_id(operation)
        return f"{prefix}_{operation.view_func.__name__}"


api = Api(
    title="cloudpbx",
    version=__version__,
    description="Manage a Cloud PBX: terminals, extensions and numbers.",
    auth=TokenAuth(),
    urls_namespace="api",
)
api.add_router("/terminals", terminals_router)
api.add_router("/terminals", phone_actions_router)  # redirect-retry, resync
api.add_router("/extensions", extensions_router)
api.add_router("/numbers", numbers_router)


@api.exception_handler(ApiValidationError)
def validation_failed(request: HttpRequest, exc: ApiValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.detail}, status=422)


@api.exception_handler(SchemaValidationError)
def schema_validation_failed(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    """Schema errors in the same shape as model errors: ``["body", "outbound", "field"]``,
    without the name of the view's body parameter that pydantic puts second."""
    detail = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if loc[:2] == ["body", "payload"]:
            loc = ["body", *loc[2:]]
        detail.append({"loc": loc, "msg": error.get("msg", ""), "type": error.get("type", "")})
    return api.create_response(request, {"detail": detail}, status=422)
