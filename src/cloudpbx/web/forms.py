"""Portal forms shared by every app, and the bridge from service errors to form fields."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["username"].label = _("Username")
        self.fields["username"].widget.attrs.update(autocomplete="username", autocapitalize="none")
        self.fields["password"].label = _("Password")


def add_service_errors(
    form: forms.Form, error: ValidationError, field_map: Mapping[str, str] | None = None
) -> None:
    """Put each error of a service's ``ValidationError`` next to the form field it concerns.

    Services key errors by model field (and ``device.<field>``); ``field_map`` renames the keys
    that differ from the form's field names. An error for a field the form does not have is
    shown at the top of the form rather than lost.
    """
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.error_list)
        return
    for key, errors in error.error_dict.items():
        target: str | None = field_map.get(key, key)
        if target == NON_FIELD_ERRORS or target not in form.fields:
            target = None
        form.add_error(target, errors)
