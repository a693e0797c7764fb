"""Portal pages for numbers: the customer's DIDs and the extension each one rings."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cloudpbx.extensions.models import Extension
from cloudpbx.numbering import services
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.web.current_tenant import get_scoped_or_404, is_htmx, portal_view, tenant_of
from cloudpbx.web.forms import add_service_errors
from cloudpbx.web.numbering.forms import DestinationForm


def _choices(request: HttpRequest) -> list[Extension]:
    return list(Extension.objects.for_tenant(tenant_of(request)))


@portal_view
@require_GET
def number_list(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    numbers = PhoneNumber.objects.for_tenant(tenant).select_related("destination")
    extensions = _choices(request)
    rows = [
        {
            "number": number,
            "form": DestinationForm(
                tenant, initial={"destination": number.destination_id}, prefix=f"n{number.pk}"
            ),
        }
        for number in numbers.order_by("-is_main", "e164")
    ]
    for row in rows:
        # One query for the extensions, shared by every row's select.
        row["form"].fields["destination"].choices = [("", _("No destination"))] + [
            (e.pk, f"{e.number} · {e.name}" if e.name else e.number) for e in extensions
        ]
    return render(request, "numbering/list.html", {"rows": rows})


@portal_view
@require_POST
def number_destination(request: HttpRequest, pk: int) -> HttpResponse:
    tenant = tenant_of(request)
    number = get_scoped_or_404(PhoneNumber.objects.select_related("destination"), request, pk)
    form = DestinationForm(tenant, request.POST, prefix=f"n{number.pk}")
    saved = False
    if form.is_valid():
        try:
            services.update_number(number, destination=form.cleaned_data["destination"])
        except ValidationError as error:
            add_service_errors(form, error)
            number = get_scoped_or_404(PhoneNumber.objects.all(), request, pk)
        else:
            saved = True
    if is_htmx(request):
        return render(
            request,
            "numbering/_row.html",
            {"row": {"number": number, "form": form, "saved": saved}},
        )
    if saved:
        messages.success(request, _("Number %(number)s saved.") % {"number": number.e164})
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    return redirect("numbers:list")
