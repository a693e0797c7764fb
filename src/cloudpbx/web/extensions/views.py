"""Portal pages for extensions: list, add, edit, delete (with what loses it)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cloudpbx.extensions import services
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.terminals.models import Terminal
from cloudpbx.web.current_tenant import get_scoped_or_404, portal_view, tenant_of
from cloudpbx.web.extensions.forms import ExtensionForm
from cloudpbx.web.forms import add_service_errors

PAGE_SIZE = 50


def _with_links(queryset: QuerySet[Extension]) -> QuerySet[Extension]:
    return queryset.prefetch_related(
        Prefetch("terminals", queryset=Terminal.objects.order_by("name")),
        Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by("e164")),
    )


def _extension_or_404(request: HttpRequest, pk: int) -> Extension:
    return get_scoped_or_404(_with_links(Extension.objects.all()), request, pk)


@portal_view
@require_GET
def extension_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    extensions = Extension.objects.for_tenant(tenant_of(request))
    if query:
        extensions = extensions.filter(Q(number__startswith=query) | Q(name__icontains=query))
    page = Paginator(_with_links(extensions), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "extensions/list.html",
        {"page": page, "extensions": list(page.object_list), "query": query},
    )


@portal_view
@require_http_methods(["GET", "POST"])
def extension_add(request: HttpRequest) -> HttpResponse:
    form = ExtensionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            extension = services.create_extension(tenant_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("Extension %(number)s added.") % {"number": extension.number}
            )
            return redirect("extensions:list")
    status = 422 if form.errors else 200
    return render(request, "extensions/form.html", {"form": form, "extension": None}, status=status)


@portal_view
@require_http_methods(["GET", "POST"])
def extension_edit(request: HttpRequest, pk: int) -> HttpResponse:
    extension = _extension_or_404(request, pk)
    initial = {"number": extension.number, "name": extension.name}
    form = ExtensionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_extension(extension, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            extension = _extension_or_404(request, pk)  # the service changed it in memory
        else:
            messages.success(
                request, _("Extension %(number)s saved.") % {"number": extension.number}
            )
            return redirect("extensions:list")
    status = 422 if form.errors else 200
    context: dict[str, Any] = {"form": form, "extension": extension}
    return render(request, "extensions/form.html", context, status=status)


@portal_view
@require_http_methods(["GET", "POST"])
def extension_delete(request: HttpRequest, pk: int) -> HttpResponse:
    extension = _extension_or_404(request, pk)
    if request.method == "POST":
        services.delete_extension(extension)
        messages.success(request, _("Extension %(number)s deleted.") % {"number": extension.number})
        return redirect("extensions:list")
    return render(request, "extensions/confirm_delete.html", {"extension": extension})
