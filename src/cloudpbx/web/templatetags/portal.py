"""Template helpers of the portal: icons, phone-number display and the form-field layout."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django import template
from django.forms import BoundField
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# 24x24 stroke icons drawn in the style of Lucide (ISC licence); inline SVG is not a script or
# a style, so the CSP allows it, and it inherits the text colour.
_ICONS: dict[str, str] = {
    "phone": '<path d="M22 16.92v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.5 19.5 0 0 '
    "1-6-6 19.79 19.79 0 0 1-3.07-8.67A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 "
    ".7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91a16 16 0 0 0 6 6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 "
    '12.84 0 0 0 2.81.7A2 2 0 0 1 22 16.92z"/>',
    "desk-phone": '<rect x="3" y="9" width="18" height="12" rx="2"/><path d="M7 9V5a2 2 0 0 1 '
    '2-2h6a2 2 0 0 1 2 2v4"/><path d="M8 13h.01M12 13h.01M16 13h.01M8 17h.01M12 17h.01M16 '
    '17h.01"/>',
    "app": '<rect x="5" y="2" width="14" height="20" rx="2"/><path d="M12 18h.01"/>',
    "external": '<path d="M16 2h6v6"/><path d="m22 2-6 6"/><path d="M22 16.92v3a2 2 0 0 '
    "1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.5 19.5 0 0 1-6-6 19.79 19.79 0 0 1-3.07-8.67A2 2 0 "
    "0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91a16 16 "
    '0 0 0 6 6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7A2 2 0 0 1 22 16.92z"/>',
    "copy": '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 '
    '1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
    "pencil": '<path d="M17 3a2.85 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5Z"/><path d="m15 5 4 4"/>',
    "eye": '<path d="M2 12s3-7 10-7 10 7 10 7-3 7-10 7-10-7-10-7Z"/><circle cx="12" cy="12" '
    'r="3"/>',
    "search": '<circle cx="11" cy="11" r="8"/><path d="m21 21-4.3-4.3"/>',
    "plus": '<path d="M5 12h14"/><path d="M12 5v14"/>',
    "trash": '<path d="M3 6h18"/><path d="M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6"/><path '
    'd="M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2"/>',
    "check": '<path d="M20 6 9 17l-5-5"/>',
    "refresh": '<path d="M21 12a9 9 0 1 1-9-9c2.52 0 4.93 1 6.74 2.74L21 8"/><path d="M21 '
    '3v5h-5"/>',
    "x": '<path d="M18 6 6 18"/><path d="m6 6 12 12"/>',
    "globe": '<circle cx="12" cy="12" r="10"/><path d="M2 12h20"/><path d="M12 2a15.3 15.3 0 '
    '0 1 4 10 15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z"/>',
    "logout": '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4"/><path d="m16 17 5-5-5-5"/>'
    '<path d="M21 12H9"/>',
    "building": '<rect x="4" y="2" width="16" height="20" rx="2"/><path d="M9 22v-4h6v4"/>'
    '<path d="M8 6h.01M12 6h.01M16 6h.01M8 10h.01M12 10h.01M16 10h.01M8 14h.01M12 14h.01M16 '
    '14h.01"/>',
    "hash": '<path d="M4 9h16"/><path d="M4 15h16"/><path d="M10 3 8 21"/><path d="m16 3-2 18"/>',
    "warning": '<path d="m21.73 18-8-14a2 2 0 0 0-3.48 0l-8 14A2 2 0 0 0 4 21h16a2 2 0 0 0 '
    '1.73-3Z"/><path d="M12 9v4"/><path d="M12 17h.01"/>',
    "info": '<circle cx="12" cy="12" r="10"/><path d="M12 16v-4"/><path d="M12 8h.01"/>',
    "chevron-left": '<path d="m15 18-6-6 6-6"/>',
    "chevron-right": '<path d="m9 18 6-6-6-6"/>',
    "key": '<circle cx="7.5" cy="15.5" r="5.5"/><path d="m21 2-9.6 9.6"/><path d="m15.5 7.5 3 '
    '3L22 7l-3-3"/>',
    "arrow-right": '<path d="M5 12h14"/><path d="m12 5 7 7-7 7"/>',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M20 21a8 8 0 0 0-16 0"/>',
    "grid": '<rect x="3" y="3" width="7" height="7" rx="1"/><rect x="14" y="3" width="7" '
    'height="7" rx="1"/><rect x="3" y="14" width="7" height="7" rx="1"/><rect x="14" y="14" '
    'width="7" height="7" rx="1"/>',
    "shield": '<path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"/>',
    "download": '<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4"/><path d="m7 10 5 5 5-5"/>'
    '<path d="M12 15V3"/>',
}


@register.simple_tag
def icon(name: str, css_class: str = "") -> SafeString:
    classes = f"icon {css_class}".strip()
    return format_html(
        '<svg class="{}" aria-hidden="true" focusable="false" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        'stroke-linejoin="round">{}</svg>',
        classes,
        mark_safe(_ICONS[name]),  # noqa: S308 (constant markup defined above)
    )


@register.filter
def phone(e164: Any) -> str:
    """+493012345600 → +49 30 12345600 (as customers read numbers)."""
    text = str(e164 or "")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@register.inclusion_tag("web/_field.html")
def field(
    bound: BoundField, required: bool = False, css_class: str = "", **attrs: Any
) -> dict[str, Any]:
    """Label, input, help and errors of one form field, wired for screen readers.

    ``required`` marks the label and sets ``aria-required``; the browser's own validation stays
    off so that the model's (translated) messages are the ones customers read.
    """
    if required:
        attrs["aria-required"] = "true"
    attrs = {key.replace("_", "-"): value for key, value in attrs.items()}
    return {
        "field": bound,
        "widget": bound.as_widget(attrs=attrs),
        "required": required,
        "css_class": css_class,
    }


@register.simple_tag
def show_when(form: Any, conditions: str) -> SafeString:
    """``data-show-when`` for portal.js, and ``hidden`` when the form's current values do not
    meet it, so the page is right before any script runs.

    ``conditions``: ``"field=value other;field2=value"`` — every field must hold one of its
    listed values.
    """
    visible = True
    for condition in conditions.split(";"):
        name, _sep, values = condition.partition("=")
        if str(form[name.strip()].value()) not in values.split():
            visible = False
    return format_html(' data-show-when="{}"{}', conditions, " hidden" if not visible else "")
