"""Jinja2 rendering of vendor files, per-model override → model family → vendor base. Django-free.

Templates live in ``vendors/<vendor>/templates/``: ``models/<model-slug>/<name>``, then
``families/<family>/<name>``, then ``<name>``. Output is deterministic: same configuration,
same bytes (no timestamps, no random, stable ordering), so a hash of it is a valid ETag.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import jinja2

from cloudpbx.provisioning.phoneconfig import PhoneConfig
from cloudpbx.provisioning.vendors.base import PhoneModel, Vendor

VENDORS_DIR = Path(__file__).resolve().parent / "vendors"


@cache
def _environment(vendor_key: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(VENDORS_DIR / vendor_key / "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("xml.j2", "htm.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the code: no stat() per request
    )


def template_names(model: PhoneModel, name: str) -> list[str]:
    names = [f"models/{model.slug}/{name}"]
    if model.family:
        names.append(f"families/{model.family}/{name}")
    names.append(name)
    return names


@cache
def template(vendor_key: str, model: PhoneModel, name: str) -> jinja2.Template:
    return _environment(vendor_key).select_template(template_names(model, name))


def render_device(
    vendor: Vendor, model: PhoneModel, template_name: str, config: PhoneConfig
) -> bytes:
    """The device's own file (holds its secrets: serve only after authentication)."""
    text = template(vendor.key, model, template_name).render(
        vendor=vendor,
        model=model,
        mac=vendor.mac_text(config.mac),
        c=config,
        a=config.account,
        p=config.provisioning,
        v=vendor.context(config),
    )
    return text.encode("utf-8")


def render_common(vendor: Vendor, model: PhoneModel, template_name: str, base_url: str) -> bytes:
    """A model's common file: the context holds nothing secret, so neither can the output."""
    text = template(vendor.key, model, template_name).render(
        vendor=vendor, model=model, base_url=base_url
    )
    return text.encode("utf-8")


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
