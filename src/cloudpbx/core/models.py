"""Base classes every domain model builds on: tenant scoping and field-keyed constraint errors."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router
from django.utils.translation import gettext_lazy as _


class BaseModel(models.Model):
    """Two additions to Django's validation, used by every domain model.

    - ``normalise_fields()`` turns what a customer typed into the stored form (a MAC in any
      notation, a national phone number) *before* field validation, so a length limit of the
      stored form never rejects valid input with a misleading message.
    - ``constraint_fields``: named DB constraints whose violation belongs to one field. Django
      reports a multi-field constraint (e.g. a name unique per tenant) as a non-field error; the
      portal and the API need it next to the field the customer typed.
    """

    constraint_fields: ClassVar[dict[str, str]] = {}

    class Meta:
        abstract = True

    def normalise_fields(self) -> dict[str, ValidationError]:
        """Normalise input in place; return errors of the fields that could not be read."""
        return {}

    def clean_fields(self, exclude: Any = None) -> None:
        exclude = set(exclude or ())
        errors: dict[str, Any] = {
            name: error for name, error in self.normalise_fields().items() if name not in exclude
        }
        try:
            super().clean_fields(exclude=exclude | set(errors))
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: Any = None) -> None:
        using = router.db_for_write(self.__class__, instance=self)
        errors: dict[str, list[ValidationError]] = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    field = self.constraint_fields.get(constraint.name)
                    if field is None and len(getattr(constraint, "fields", ())) == 1:
                        field = constraint.fields[0]
                    errors.setdefault(field or NON_FIELD_ERRORS, []).append(error)
        if errors:
            raise ValidationError(errors)


class TenantQuerySet(models.QuerySet):
    """The one way to read tenant data: ``Model.objects.for_tenant(tenant)``."""

    tenant_path: str = "tenant"

    # A Tenant or its id; typed as any model so that core imports no domain app (the layers).
    def for_tenant(self, tenant: models.Model | int) -> TenantQuerySet:
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        return self.filter(**{f"{self.tenant_path}_id": tenant_id})


class TenantScopedModel(BaseModel):
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """The last sign of life of a background process on a node (``jobs@<host>``), for
    ``/healthz`` and ``cloudpbx check``: in the database, so every node's web workers see it."""

    name = models.CharField(max_length=100, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.beat_at:%Y-%m-%d %H:%M:%S}"
