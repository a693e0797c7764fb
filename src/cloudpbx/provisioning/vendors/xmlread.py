"""Reading rendered XML back (tests, the end-to-end check). Django-free.

Our own output only: no DTDs or entities are involved, so the standard parser is safe here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


def parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - see module docstring


def params(root: ET.Element) -> dict[str, str]:
    """``<param name=… value=…/>`` pairs (Gigaset), anywhere in the tree."""
    return {p.attrib["name"]: p.attrib.get("value", "") for p in root.iter("param")}
