"""XML-RPC calls with HTTP Basic credentials, for the legacy Yealink RPS and Gigaset services.

The stdlib marshals the call and parses the answer; the transport is :mod:`.http`, so the
credentials travel in a header (``ServerProxy`` wants them in the URL, which ends up in error
messages) and every failure is a :class:`RedirectError`.
"""

from __future__ import annotations

import base64
import xmlrpc.client
from typing import Any

from cloudpbx.provisioning.redirect_clients import http
from cloudpbx.provisioning.redirect_clients.base import RedirectError, classify_status


def call(url: str, username: str, password: str, method: str, *params: Any) -> Any:
    """The method's single return value; faults and HTTP errors raise :class:`RedirectError`."""
    body = xmlrpc.client.dumps(params, methodname=method, encoding="utf-8").encode()
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    answer = http.send(
        "POST",
        url,
        body=body,
        headers={"Content-Type": "text/xml", "Authorization": f"Basic {credentials}"},
    )
    if answer.status != 200:
        permanent = classify_status(answer.status)
        hint = " (check the account and password)" if answer.status in (401, 403) else ""
        raise RedirectError(f"{method}: HTTP {answer.status}{hint}", permanent=permanent)
    try:
        values, _ = xmlrpc.client.loads(answer.body)
    except xmlrpc.client.Fault as fault:
        raise RedirectError(f"{method}: {fault.faultString}", permanent=True) from None
    except Exception as error:  # the body is not XML-RPC: ExpatError, ResponseError…
        raise RedirectError(f"{method}: not an XML-RPC answer ({error})") from None
    return values[0] if values else None


def result_pair(method: str, value: Any) -> tuple[bool, str]:
    """The ``[success, message]`` answer both services give (a bare boolean is accepted)."""
    if isinstance(value, bool):
        return value, ""
    if isinstance(value, list | tuple) and value and isinstance(value[0], bool | int):
        message = str(value[1]) if len(value) > 1 else ""
        return bool(value[0]), message
    raise RedirectError(f"{method}: unexpected answer {value!r}"[:200])
