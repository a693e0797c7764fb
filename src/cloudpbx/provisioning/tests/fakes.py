"""Loopback fakes of the manufacturers' redirect services, for the adapter and job tests.

Each fake checks requests the way the real service documents them (URLs, methods, headers,
OAuth2 token flow, Hawk signatures verified with ``mohawk``'s server side, XML-RPC method names
and parameters) and answers in the documented shapes, including the documented errors
(``fail_next`` queues HTTP statuses or service error codes for the next calls). ``calls`` lists
what was asked, for assertions; ``problems`` lists every deviation from the documentation,
which the tests assert is empty.
"""

from __future__ import annotations

import base64
import json
import threading
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mohawk

CLIENT_ID = "client-id-1"
CLIENT_SECRET = "s3cret-client-value"
TOKEN = "token-abc"


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeService:
    """State shared by a fake's handler threads."""

    calls: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    devices: dict[str, Any] = field(default_factory=dict)
    fail_next: list[Any] = field(default_factory=list)  # statuses / error codes, one per call
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Requests to hold unanswered (``holding`` set while one is) until ``release``, then drop.
    hold_next: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def next_failure(self) -> Any:
        with self.lock:
            return self.fail_next.pop(0) if self.fail_next else None

    def held(self) -> bool:
        """Whether to hold this request (one of the next ``hold_next``)."""
        with self.lock:
            if self.hold_next <= 0:
                return False
            self.hold_next -= 1
            return True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _exchange(self) -> Exchange:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return Exchange(self.command, self.path, dict(self.headers.items()), body)

    def reply(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        body = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        exchange = self._exchange()
        if self.fake.held():
            self.fake.holding.set()
            self.fake.release.wait(60)
            self.close_connection = True  # no answer: the client is gone by now
            return
        self.handle_exchange(exchange)

    do_POST = do_PUT = do_DELETE = do_GET

    def handle_exchange(self, exchange: Exchange) -> None:
        raise NotImplementedError


@contextmanager
def serve(handler: type[_Handler], fake: FakeService) -> Iterator[FakeService]:
    handler_class = type(handler.__name__, (handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- Yealink YMCS ------------------------------------------------------------------------------


class YmcsHandler(_Handler):
    def handle_exchange(self, exchange: Exchange) -> None:
        fake = self.fake
        headers = {k.lower(): v for k, v in exchange.headers.items()}
        if exchange.method != "POST":
            fake.problem(f"YMCS: {exchange.method} {exchange.path}")
        if not headers.get("timestamp", "").isdigit() or len(headers.get("nonce", "")) < 16:
            fake.problem(f"YMCS: timestamp/nonce headers missing on {exchange.path}")
        if headers.get("content-type") != "application/json":
            fake.problem(f"YMCS: content type {headers.get('content-type')}")
        payload = json.loads(exchange.body or b"null")
        fake.calls.append((exchange.path, payload))
        failure = fake.next_failure()
        if isinstance(failure, int):
            self.reply(failure, {"code": "900500", "message": "Server busy"})
            return
        if exchange.path == "/v2/token":
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if headers.get("authorization") != f"Basic {basic}":
                self.reply(401, {"error": "invalid_client", "message": "Bad credentials"})
                return
            if payload != {"grant_type": "client_credentials"}:
                fake.problem(f"YMCS: token body {payload}")
            self.reply(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 7200})
            return
        if headers.get("authorization") != f"Bearer {TOKEN}":
            self.reply(401, {"code": "900401", "message": "Not logged in"})
            return
        if exchange.path == "/v2/rps/listDevices":
            mac = (payload.get("filter") or {}).get("mac")
            found = [fake.devices[mac]] if mac in fake.devices else []
            self.reply(200, {"skip": 0, "limit": 1, "total": len(found), "data": found})
        elif exchange.path == "/v2/rps/addDevicesByMac":
            if not isinstance(payload, list) or not payload:
                fake.problem(f"YMCS: addDevicesByMac body {payload}")
                self.reply(400, {"code": "900400", "message": "Bad request"})
                return
            errors = []
            for item in payload:
                if failure:  # a documented per-device error, e.g. "800004"
                    errors.append({"mac": item["mac"], "sn": "", "errorInfo": failure})
                elif item["mac"] in fake.devices:
                    errors.append({"mac": item["mac"], "sn": "", "errorInfo": "800003"})
                else:
                    fake.devices[item["mac"]] = {"id": f"id-{item['mac']}", **item}
            self.reply(
                200,
                {
                    "total": len(payload),
                    "successCount": len(payload) - len(errors),
                    "failureCount": len(errors),
                    "errors": errors,
                },
            )
        elif exchange.path == "/v2/rps/delDevices":
            if payload.get("deviceIdType") != "mac":
                fake.problem(f"YMCS: delDevices body {payload}")
            for mac in payload.get("deviceIds", []):
                fake.devices.pop(mac, None)
            count = len(payload.get("deviceIds", []))
            self.reply(200, {"total": count, "successCount": count, "failureCount": 0})
        else:
            fake.problem(f"YMCS: unknown path {exchange.path}")
            self.reply(404, {"code": "900404", "message": "Resource not found"})


# --- Snom SRAPS --------------------------------------------------------------------------------

SETTING_UUID = "6f0c0b47-setting-server"
USER_SETTING_UUID = "0c1d7e2a-http-client-user"
PASSWORD_SETTING_UUID = "9a8b4f11-http-client-pass"
SETTING_UUIDS = {SETTING_UUID, USER_SETTING_UUID, PASSWORD_SETTING_UUID}


class SrapsHandler(_Handler):
    seen_nonces: set[str]

    def handle_exchange(self, exchange: Exchange) -> None:
        fake = self.fake
        headers = {k.lower(): v for k, v in exchange.headers.items()}
        content_type = headers.get("content-type", "")
        try:
            mohawk.Receiver(
                lambda key_id: {"id": CLIENT_ID, "key": CLIENT_SECRET, "algorithm": "sha256"},
                headers.get("authorization", ""),
                f"{fake.url}{exchange.path}",
                exchange.method,
                content=exchange.body,
                content_type=content_type,
                seen_nonce=self._seen_nonce,
            )
        except mohawk.exc.HawkFail as error:
            fake.problem(f"SRAPS: Hawk refused on {exchange.method} {exchange.path}: {error}")
            self.reply(401, {"detail": "Authentication credentials were not provided."})
            return
        path = urlsplit(exchange.path).path
        query = parse_qs(urlsplit(exchange.path).query)
        fake.calls.append((exchange.method, exchange.path, json.loads(exchange.body or b"null")))
        failure = fake.next_failure()
        if isinstance(failure, int):
            self.reply(failure, {"detail": f"failure {failure}"})
            return
        base = "/api/v1/"
        if exchange.method == "GET" and path == base + "settings/":
            if query.get("page") == ["2"]:
                self.reply(
                    200,
                    [
                        {"uuid": SETTING_UUID, "param_name": "setting_server"},
                        {"uuid": PASSWORD_SETTING_UUID, "param_name": "http_client_pass"},
                    ],
                )
            else:  # setting_server is on the second page: the adapter must follow Link
                link = f'<{fake.url}{base}settings/?page=2>; rel="next"'
                self.reply(
                    200,
                    [
                        {"uuid": "other", "param_name": "language"},
                        {"uuid": USER_SETTING_UUID, "param_name": "http_client_user"},
                    ],
                    headers={"Link": link},
                )
        elif exchange.method == "GET" and path == f"{base}tokens/{CLIENT_ID}":
            self.reply(200, {"links": {"company": f"{fake.url}{base}companies/c1/"}})
        elif exchange.method == "GET" and path == base + "companies/c1/":
            self.reply(200, {"links": {"endpoints": f"{fake.url}{base}companies/c1/endpoints/"}})
        elif path.startswith(base + "companies/c1/endpoints/"):
            mac = path.rsplit("/", 1)[1]
            if exchange.method == "PUT":
                payload = json.loads(exchange.body)
                settings = payload.get("settings_manager", {}).get(SETTING_UUID, {})
                if content_type != "application/json" or payload.get("mac") != mac:
                    fake.problem(f"SRAPS: PUT body {payload}")
                if payload.get("autoprovisioning_enabled") is not True or not settings.get("value"):
                    fake.problem(f"SRAPS: PUT body {payload}")
                if not set(payload.get("settings_manager", {})) <= SETTING_UUIDS:
                    fake.problem(f"SRAPS: unknown setting in {payload}")
                fake.devices[mac] = settings.get("value")
                self.reply(200, payload)
            elif exchange.method == "DELETE":
                if fake.devices.pop(mac, None) is None:
                    self.reply(404, {"detail": "Not found."})
                else:
                    self.reply(204)
            else:
                fake.problem(f"SRAPS: {exchange.method} {path}")
                self.reply(405, {"detail": "Method not allowed"})
        else:
            fake.problem(f"SRAPS: unknown {exchange.method} {path}")
            self.reply(404, {"detail": "Not found."})

    def _seen_nonce(self, sender_id: str, nonce: str, timestamp: str) -> bool:
        key = f"{sender_id}:{nonce}:{timestamp}"
        with self.fake.lock:
            seen: set[str] = getattr(self.fake, "nonces", set())
            if key in seen:
                return True
            seen.add(key)
            self.fake.nonces = seen  # type: ignore[attr-defined]
        return False


# --- XML-RPC: Yealink RPS and Gigaset ----------------------------------------------------------

RPC_USER = "rps-user"
RPC_PASSWORD = "rps-password"


class XmlRpcHandler(_Handler):
    """Both legacy services: Basic auth, ``[boolean, message]`` answers."""

    path_expected = "/xmlrpc"

    def handle_exchange(self, exchange: Exchange) -> None:
        fake = self.fake
        headers = {k.lower(): v for k, v in exchange.headers.items()}
        basic = base64.b64encode(f"{RPC_USER}:{RPC_PASSWORD}".encode()).decode()
        if headers.get("authorization") != f"Basic {basic}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="rps"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if exchange.method != "POST" or exchange.path != self.path_expected:
            fake.problem(f"XML-RPC: {exchange.method} {exchange.path}")
        if not headers.get("content-type", "").startswith("text/xml"):
            fake.problem(f"XML-RPC: content type {headers.get('content-type')}")
        params, method = xmlrpc.client.loads(exchange.body)
        fake.calls.append((method, params))
        failure = fake.next_failure()
        if isinstance(failure, int):
            self.send_response(failure)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = self.answer(method or "", params, failure)
        body = xmlrpc.client.dumps((answer,), methodresponse=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, method: str, params: tuple[Any, ...], failure: Any) -> Any:
        raise NotImplementedError


class YealinkRpsHandler(XmlRpcHandler):
    def answer(self, method: str, params: tuple[Any, ...], failure: Any) -> Any:
        fake = self.fake
        if failure:
            return [False, failure]
        if method == "redirect.registerDeviceWithUniqueUrl":
            mac, _server_name, url, override = params
            if len(params) != 4 or override != "1" or len(mac) != 17 or mac.count("-") != 5:
                fake.problem(f"RPS: {method}{params}")
            fake.devices[mac] = url
            return [True, "OK"]
        if method == "redirect.deRegisterDevice":
            (mac,) = params
            if fake.devices.pop(mac, None) is None:
                return [False, f"Error:Unregistered MAC(s):{mac}"]
            return [True, "OK"]
        fake.problem(f"RPS: unknown method {method}")
        return [False, "Error:Unknown method"]


class GigasetHandler(XmlRpcHandler):
    """A failure text may quote the URL it refuses (``{url}``), as services do."""

    path_expected = "/apxml/rpc.do"

    def answer(self, method: str, params: tuple[Any, ...], failure: Any) -> Any:
        fake = self.fake
        if failure and method == "autoprov.registerDevice":
            return [False, failure.replace("{url}", str(params[1]))]
        if method == "autoprov.registerDevice":
            mac_id, url, provider = params
            if len(mac_id) != 17 or mac_id[12] != "-" or "%MACD" not in url or not provider:
                fake.problem(f"Gigaset: {method}{params}")
            fake.devices[mac_id[:12]] = (mac_id, url, provider)
            return [True, "Device registered"]
        if method == "autoprov.deregisterDevice":
            (mac,) = params
            if len(mac) != 12 or mac != mac.upper():
                fake.problem(f"Gigaset: {method}{params}")
            if fake.devices.pop(mac, None) is None:
                return [False, "Device not registered"]
            return [True, "Device deregistered"]
        fake.problem(f"Gigaset: unknown method {method}")
        return [False, "unknown method"]


@contextmanager
def ymcs() -> Iterator[FakeService]:
    with serve(YmcsHandler, FakeService()) as fake:
        yield fake


@contextmanager
def sraps() -> Iterator[FakeService]:
    with serve(SrapsHandler, FakeService()) as fake:
        fake.url_base = f"{fake.url}/api/v1/"  # type: ignore[attr-defined]
        yield fake


@contextmanager
def yealink_rps() -> Iterator[FakeService]:
    with serve(YealinkRpsHandler, FakeService()) as fake:
        yield fake


@contextmanager
def gigaset() -> Iterator[FakeService]:
    with serve(GigasetHandler, FakeService()) as fake:
        yield fake
