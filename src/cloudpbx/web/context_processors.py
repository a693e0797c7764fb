"""Template context of every portal page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    """``portal``: the current customer and role, set by ``portal_view`` (None elsewhere)."""
    return {"portal": getattr(request, "portal", None)}
