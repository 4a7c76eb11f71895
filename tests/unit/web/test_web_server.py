"""devstack/web.py: the local static server of the web app (files of web/, a generated config.json,
no path traversal)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.web import WEB_ROOT, WebServer, config_document, content_type, resolve


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "views").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    (root / "app.js").write_text("export const x = 1;")
    (root / "styles.css").write_text("body{}")
    (root / "views" / "a.js").write_text("export {};")
    (root / "logo.svg").write_text("<svg/>")
    (root / "config.json").write_text('{"apiBaseUrl": "http://stale"}')  # a stray file never wins
    (tmp_path / "secret.txt").write_text("outside the root")
    (root / "link-out").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def server(site: Path) -> Iterator[WebServer]:
    web = WebServer(api_base_url="http://127.0.0.1:9999/", stage="qa", port=0, root=site).start()
    try:
        yield web
    finally:
        web.stop()


def raw_get(url: str, target: str) -> bytes:
    """A request line sent verbatim (httpx would normalise `..` away)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_serves_index_and_assets_with_their_types_and_no_cache(server: WebServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        expected = {"/": "text/html", "/index.html": "text/html", "/app.js": "text/javascript",
                    "/styles.css": "text/css", "/views/a.js": "text/javascript", "/logo.svg": "image/svg+xml"}
        for path, ctype in expected.items():
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(ctype), (path, r.headers["content-type"])
            assert r.headers["cache-control"] == "no-cache"
            assert r.headers["x-content-type-options"] == "nosniff"
        head = c.head("/app.js")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len("export const x = 1;")


def test_config_json_names_the_api_without_trailing_slash_and_the_stage(server: WebServer) -> None:
    r = httpx.get(f"{server.url}/config.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-cache"
    assert r.json() == {"apiBaseUrl": "http://127.0.0.1:9999", "stage": "qa"}
    assert config_document("https://x.example/Prod/", "dev") == {"apiBaseUrl": "https://x.example/Prod", "stage": "dev"}


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/views/../../secret.txt", "/%2e%2e/secret.txt", "/views/%2E%2E/%2e%2e/secret.txt",
    "/..%2fsecret.txt", "/%5c..%5csecret.txt", "/link-out", "/missing.js", "/views/", "/index.html%00.js",
])
def test_refuses_anything_outside_the_root_and_missing_files(server: WebServer, target: str) -> None:
    response = raw_get(server.url, target)
    assert response.startswith(b"HTTP/1.1 404"), response[:80]
    assert b"outside the root" not in response


def test_resolve_keeps_inside_the_root(site: Path) -> None:
    assert resolve(site, "/") == (site / "index.html").resolve()
    assert resolve(site, "/views/a.js") == (site / "views" / "a.js").resolve()
    assert resolve(site, "/../secret.txt") is None
    assert resolve(site, "/link-out") is None


def test_content_types_of_the_real_app_files() -> None:
    assert content_type(Path("x.mjs")).startswith("text/javascript")
    assert content_type(Path("x.webmanifest")) == "application/manifest+json"
    assert content_type(Path("x.bin")) == "application/octet-stream"
    assert (WEB_ROOT / "index.html").is_file(), "web/index.html is the app's entry point"


def test_a_busy_port_is_an_os_error_naming_it(server: WebServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        WebServer(api_base_url="http://x", stage="qa", port=port)


def test_stop_releases_the_port(site: Path) -> None:
    web = WebServer(api_base_url="http://x", stage="qa", port=0, root=site).start()
    port = int(web.url.rsplit(":", 1)[1])
    assert json.loads(httpx.get(f"{web.url}/config.json").text)["stage"] == "qa"
    web.stop()
    again = WebServer(api_base_url="http://x", stage="qa", port=port, root=site)  # binds again
    again.server.server_close()


def test_the_local_csp_is_the_templates_with_local_connect_sources(site: Path) -> None:
    from devstack.template import load_raw
    from devstack.web import template_csp

    csp = template_csp(["http://127.0.0.1:1", "http://127.0.0.1:2"])
    directives = csp.split("; ")
    assert "connect-src 'self' http://127.0.0.1:1 http://127.0.0.1:2" in directives
    parts = load_raw()["Resources"]["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"].value[1]
    assert [d for d in directives if not d.startswith("connect-src")] == [p for p in parts if isinstance(p, str)]
    web = WebServer(api_base_url="http://x", stage="qa", port=0, root=site, csp=csp).start()
    try:
        assert httpx.get(f"{web.url}/").headers["content-security-policy"] == csp
    finally:
        web.stop()
