"""A small JSON-RPC 2.0 client for Kamailio's jsonrpcs module (HTTP on a loopback port).

Kamailio's RPC can dial out (``tm.t_uac_start``) and rewrite its tables: it answers only
requests carrying the token derived from the server key (checked in :mod:`cloudpbx.sip.ksr`),
so another local process cannot use it. Every node derives the same token.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from typing import Any

from cloudpbx.config import kamailio_rpc_token

_ids = itertools.count(1)


class RpcError(RuntimeError):
    pass


class NotRunning(RpcError):
    """Nothing listens at the URL: no Kamailio runs there (yet)."""


def token(secret_key: str) -> str:
    return kamailio_rpc_token(secret_key)


def call(url: str, method: str, *params: Any, token: str, timeout: float = 2.0) -> Any:
    body = json.dumps(
        {"jsonrpc": "2.0", "method": method, "params": list(params), "id": next(_ids)}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (URL from our own settings)
        url,
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read() or b"{}")
    except (OSError, ValueError) as exc:
        refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
        raise (NotRunning if refused else RpcError)(f"{method} at {url}: {exc}") from exc
    if "error" in answer:
        raise RpcError(f"{method} at {url}: {answer['error']}")
    return answer.get("result")
