"""The routing's view of the numbering rules (:mod:`cloudpbx.numbering_rules`)."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError

from cloudpbx import numbering_rules as rules
from cloudpbx.sip.routing import Destination


class CountryNumberPlan:
    """Implements :class:`cloudpbx.sip.routing.NumberPlan`; one rule table for portal and SIP."""

    def is_emergency(self, country: str, dialled: str) -> bool:
        return rules.is_emergency_number(country, dialled)

    def destination(
        self, country: str, dialled: str, allowed_countries: Collection[str]
    ) -> Destination:
        """``dialled`` read in ``country``'s plan; ``barred`` is the refusal code (a barred
        class such as "premium_rate", a platform bar such as "satellite", or
        "country_not_allowed" outside ``allowed_countries``). Emergency numbers are the
        caller's to check first (:meth:`is_emergency`)."""
        try:
            e164 = rules.normalise(country, dialled)
        except ValidationError as error:
            # Short codes (directory 118xx, service numbers) are refused by normalise itself.
            barred = error.code in rules.BARRED_CODES or error.code in {"short_code", "directory"}
            return Destination(e164=None, barred=error.code if barred else None)
        except ValueError:
            return Destination(e164=None)
        refusal = rules.barred_destination(country, e164) or rules.destination_refusal(
            e164, allowed_countries
        )
        return Destination(e164=e164, barred=refusal[0] if refusal else None)
