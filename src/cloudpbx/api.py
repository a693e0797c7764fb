"""The REST API at /api/v1/ (OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs)."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from cloudpbx import __version__
from cloudpbx.core.api import ApiValidationError, TokenAuth
from cloudpbx.extensions.api import router as extensions_router
from cloudpbx.numbering.api import router as numbers_router
from cloudpbx.terminals.api import router as terminals_router

api = NinjaAPI(
    title="cloudpbx",
    version=__version__,
    description="Manage a Cloud PBX: terminals, extensions and numbers.",
    auth=TokenAuth(),
    urls_namespace="api",
)
api.add_router("/terminals", terminals_router)
api.add_router("/extensions", extensions_router)
api.add_router("/numbers", numbers_router)


@api.exception_handler(ApiValidationError)
def validation_failed(request: HttpRequest, exc: ApiValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.detail}, status=422)
