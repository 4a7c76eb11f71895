"""The local static server for the web app (`web/`): what S3 + CloudFront serve in AWS.

Serves the files of `web/` with their content types and `Cache-Control: no-cache`, `index.html`
for `/`, refuses anything outside the web root, and answers `/config.json` with the API's URL
(the deploy writes the same file to the web bucket; see docs/web.md). With `csp`, every response
carries the Content-Security-Policy CloudFront adds in AWS (`template_csp`: template.yaml's
WebSecurityHeaders policy with connect-src pointed at the local API and S3), so a page that would
break under the deployed CSP breaks locally too::

    server = WebServer(api_base_url="http://127.0.0.1:8000", stage="local", port=0,
                       csp=template_csp(["http://127.0.0.1:8000", "http://127.0.0.1:4566"]))
    server.start(); print(server.url); ...; server.stop()
"""

from __future__ import annotations

import json
import mimetypes
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from devstack.httpd import BackgroundHTTPServer

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"
DEFAULT_PORT = 8080
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".woff2": "font/woff2",
}


def content_type(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def template_csp(connect_src: list[str], raw: dict[str, Any] | None = None) -> str:
    """The CSP of template.yaml's WebSecurityHeaders response headers policy, with its connect-src
    (the API and the assets bucket in AWS) replaced by 'self' plus `connect_src`."""
    from devstack.template import TemplateError, _Tag, load_raw

    raw = raw if raw is not None else load_raw()
    try:
        config = raw["Resources"]["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
        policy = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    except KeyError as exc:
        raise TemplateError(f"template.yaml: WebSecurityHeaders has no content security policy ({exc})") from None
    if not (isinstance(policy, _Tag) and policy.tag == "Join"):
        raise TemplateError("template.yaml: the web CSP must be a !Join of directives")
    sep, parts = policy.value
    directives = []
    for part in parts:
        text = str(part.value if isinstance(part, _Tag) else part)
        if text.startswith("connect-src"):
            text = " ".join(["connect-src 'self'", *connect_src])
        elif isinstance(part, _Tag):
            raise TemplateError(f"template.yaml: only connect-src of the web CSP may use intrinsics: {part!r}")
        directives.append(text)
    return str(sep).join(directives)


def config_document(api_base_url: str, stage: str) -> dict[str, str]:
    """The app's config.json: the API's absolute URL without a trailing slash, and the stage."""
    return {"apiBaseUrl": api_base_url.rstrip("/"), "stage": stage}


def resolve(root: Path, url_path: str) -> Path | None:
    """The file under `root` that `url_path` names, or None (missing, a directory without
    index.html, or outside the root: `..`, encoded `%2e%2e`, absolute paths, symlinks out)."""
    decoded = unquote(url_path)
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = [p for p in decoded.split("/") if p]
    if any(p in (".", "..") for p in parts):
        return None
    candidate = root.joinpath(*parts) if parts else root
    try:
        real = candidate.resolve(strict=True)
        real.relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    if real.is_dir():
        real = real / "index.html"
        if not real.is_file():
            return None
    return real if real.is_file() else None


class WebServer(BackgroundHTTPServer):
    """ThreadingHTTPServer for `web/` plus a generated /config.json; start()/stop() from tests."""

    def __init__(self, api_base_url: str, stage: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 root: Path = WEB_ROOT, csp: str | None = None) -> None:
        self.root = root.resolve()
        self.csp = csp
        self.config = json.dumps(config_document(api_base_url, stage), indent=2).encode() + b"\n"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "smartcourse-local-web"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, head=False)

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

        super().__init__("web", host, port, Handler)

    def _send(self, h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes, head: bool) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-cache")
        h.send_header("X-Content-Type-Options", "nosniff")
        if self.csp:
            h.send_header("Content-Security-Policy", self.csp)
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlsplit(h.path).path
        if path == "/config.json":
            self._send(h, 200, "application/json", self.config, head)
            return
        file = resolve(self.root, path)
        if file is None:
            self._send(h, 404, "text/plain; charset=utf-8", b"not found\n", head)
            return
        self._send(h, 200, content_type(file), file.read_bytes(), head)
