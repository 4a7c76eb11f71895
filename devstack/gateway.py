"""The local API Gateway: HTTP requests -> REST API proxy events for the function whose Api
event matches, with `requestContext.resourcePath` set so Chalice finds its route."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devstack.httpd import BackgroundHTTPServer
from devstack.invoker import FunctionPool
from devstack.template import ApiCors, Template

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True)
class Route:
    function: str
    resource: str
    method: str
    regex: re.Pattern[str]
    specificity: tuple[int, int]


def compile_routes(template: Template) -> list[Route]:
    routes = []
    for fn in template.functions.values():
        for ev in fn.api_events:
            pattern = ""
            literal = 0
            params = 0
            for part in ev.path.strip("/").split("/"):
                if not part:
                    continue
                m = re.fullmatch(r"\{(\w+)(\+)?\}", part)
                if m and m.group(2):
                    pattern += f"/(?P<{m.group(1)}>.+)"
                    params += 100
                elif m:
                    pattern += f"/(?P<{m.group(1)}>[^/]+)"
                    params += 1
                else:
                    pattern += "/" + re.escape(part)
                    literal += 1
            routes.append(Route(fn.logical_id, ev.path, ev.method, re.compile(f"^{pattern or '/'}/?$"),
                                (-literal, params)))
    routes.sort(key=lambda r: r.specificity)
    return routes


def match(routes: list[Route], method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path_known). path_known with no route means: method not allowed."""
    path_known = False
    for route in routes:
        m = route.regex.match(path)
        if not m:
            continue
        path_known = True
        if route.method in (method.lower(), "any"):
            return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
    return None, {}, path_known


def build_event(route: Route, method: str, raw_path: str, query: str, headers: dict[str, list[str]],
                body: bytes, params: dict[str, str], source_ip: str, stage: str) -> dict[str, Any]:
    qs = parse_qs(query, keep_blank_values=True)
    ctype = (headers.get("content-type") or [""])[0]
    is_text = not body or any(ctype.startswith(t) for t in TEXT_TYPES)
    if is_text:
        try:
            body_str: str | None = body.decode("utf-8") if body else None
            b64 = False
        except UnicodeDecodeError:
            body_str, b64 = base64.b64encode(body).decode(), True
    else:
        body_str, b64 = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": raw_path,
        "httpMethod": method.upper(),
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in qs.items()} or None,
        "multiValueQueryStringParameters": qs or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method.upper(),
            "path": f"/{stage}{raw_path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip, "userAgent": (headers.get("user-agent") or [""])[0]},
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": body_str,
        "isBase64Encoded": b64,
    }


def cors_preflight_headers(cors: ApiCors, path_methods: list[str]) -> dict[str, str]:
    """The OPTIONS response headers SAM configures for a path (swagger.py
    `_options_method_response_for_cors`): without AllowMethods, the path's methods plus OPTIONS."""
    headers = {"Access-Control-Allow-Origin": cors.allow_origin}
    if cors.allow_headers:
        headers["Access-Control-Allow-Headers"] = cors.allow_headers
    if cors.allow_methods:
        headers["Access-Control-Allow-Methods"] = cors.allow_methods
    else:
        all_methods = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
        wanted = set(all_methods) if "any" in path_methods else {m.upper() for m in path_methods} | {"OPTIONS"}
        headers["Access-Control-Allow-Methods"] = ",".join(m for m in all_methods if m in wanted)
    if cors.max_age is not None:
        headers["Access-Control-Max-Age"] = cors.max_age
    if cors.allow_credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


class Gateway(BackgroundHTTPServer):
    def __init__(self, template: Template, pools: dict[str, FunctionPool], host: str = "127.0.0.1",
                 port: int = 8000, stage: str = "local") -> None:
        self.routes = compile_routes(template)
        self.cors = template.api_cors
        self.gateway_response_headers = template.gateway_response_headers
        self.pools = pools
        self.stage = stage
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "smartcourse-local-gateway"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, ...) goes through route matching too, and gets the
                # gateway's JSON 405/404 instead of http.server's HTML 501.
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        super().__init__("gateway", host, port, Handler)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        h.send_response(status)
        for k, values in headers.items():
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            for v in values:
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, message: str,
               extra_headers: dict[str, str] | None = None) -> None:
        """API Gateway's own responses, with the template's GatewayResponses headers (CORS)."""
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = {"Content-Type": ["application/json"], **{k: [v] for k, v in (extra_headers or {}).items()}}
        extra = {**self.gateway_response_headers.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX", {}),
                 **self.gateway_response_headers.get(f"DEFAULT_{status}", {})}
        headers.update({k: [v] for k, v in extra.items()})
        self._send(h, status, headers, body)

    def preflight_headers(self, path: str) -> dict[str, str] | None:
        """What SAM's OPTIONS mock integration answers for `path` (None: no CORS or unknown path)."""
        if self.cors is None:
            return None
        methods = [r.method for r in self.routes if r.regex.match(path)]
        if not methods or "options" in methods:  # unknown path, or the path has its own OPTIONS
            return None
        return cors_preflight_headers(self.cors, methods)

    def allowed_methods(self, path: str) -> str:
        """The methods `path` answers, for a 405's ``Allow`` (RFC 9110 section 15.5.6): its routes'
        methods, plus OPTIONS when the gateway answers the CORS preflight there."""
        methods = {r.method.upper() for r in self.routes if r.regex.match(path)}
        if self.preflight_headers(path) is not None:
            methods.add("OPTIONS")
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return ", ".join(sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m)))

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(h, 413, "payload_too_large", f"request body over {MAX_BODY} bytes")
            h.close_connection = True
            return
        body = h.rfile.read(length) if length else b""
        if h.command == "OPTIONS":
            preflight = self.preflight_headers(split.path)
            if preflight is not None:
                self._send(h, 200, {"Content-Type": ["application/json"], **{k: [v] for k, v in preflight.items()}},
                           b"{}\n")
                return
        route, params, known = match(self.routes, h.command, split.path)
        if route is None:
            if known:
                self._error(h, 405, "method_not_allowed", f"{h.command} is not allowed on {split.path}",
                            {"Allow": self.allowed_methods(split.path)})
            else:
                self._error(h, 404, "route_not_found", f"no route for {split.path}")
            return
        headers: dict[str, list[str]] = {}
        for k, v in h.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        event = build_event(route, h.command, split.path, split.query, headers, body, params,
                            h.client_address[0], self.stage)
        result = self.pools[route.function].invoke(event)
        if not result.ok or not isinstance(result.payload, dict) or "statusCode" not in result.payload:
            # API Gateway answers 502 when the integration fails or returns a malformed response.
            self._error(h, 502, "bad_gateway", f"{route.function} failed: {result.error or 'malformed response'}")
            return
        resp = result.payload
        out_headers: dict[str, list[str]] = {k: [str(v)] for k, v in (resp.get("headers") or {}).items()}
        for k, values in (resp.get("multiValueHeaders") or {}).items():
            out_headers[k] = [str(v) for v in values]
        raw = resp.get("body") or ""
        payload = base64.b64decode(raw) if resp.get("isBase64Encoded") else str(raw).encode()
        self._send(h, int(resp["statusCode"]), out_headers, payload)
