"""Browser tests: the web app (web/) in Debian's headless Chromium, driven by Playwright (sync API),
against the whole local runtime (every function of template.yaml) and the devstack web server.

Fixtures
  web_stack  (session) LocalRuntime with ALL functions on a free port, the web server on another free
             port pointed at it; `.web_url`, `.api_url`, `.stage`, `.api` (httpx client on the API),
             `.register()`, `.login()`, `.make_admin()`, `.auth()`, `.eventually()`.
  browser    (session) chromium from /usr/bin/chromium (never a Playwright download; `make browser`).
  browser_log          what the page did: console errors, uncaught errors, failed requests.
  page                 a fresh context + page on web_stack.web_url (`page.goto("/")`); the test FAILS
                       if the page threw an uncaught JS error or violated the CSP the deploy serves
                       (the web server sends template.yaml's CSP); a failure leaves a screenshot.
  shot       shot(page, name) -> Path: test-artifacts/browser/<test name>/NN-<name>.png
Every test in tests/browser is marked `browser` and `e2e`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.polling import eventually
from tests.conftest import ROOT, free_ports

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PASSWORD = "a-browser-test-password"
DEFAULT_TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


# --- the stack ----------------------------------------------------------------------------------

@dataclass
class WebStack:
    web_url: str
    api_url: str
    stage: str
    database_url: str
    api: httpx.Client
    runtime: Any
    _counter: list[int] = field(default_factory=lambda: [0])

    def unique_email(self, who: str) -> str:
        self._counter[0] += 1
        return f"{who}-{self._counter[0]}-{self.stage}@example.com"

    def register(self, email: str, role: str = "student", name: str | None = None,
                 password: str = PASSWORD) -> str:
        """Registers an account through the API and returns its access token."""
        resp = self.api.post("/auth/register", json={"email": email, "password": password,
                                                     "name": name or role.title(), "role": role})
        assert resp.status_code == 201, f"register {email}: {resp.status_code} {resp.text}"
        return self.login(email, password)

    def login(self, email: str, password: str = PASSWORD) -> str:
        resp = self.api.post("/auth/login", json={"email": email, "password": password})
        assert resp.status_code == 200, f"login {email}: {resp.status_code} {resp.text}"
        return str(resp.json()["access_token"])

    def make_admin(self, email: str, password: str = PASSWORD, name: str = "Admin") -> str:
        """Creates an admin account (as `python -m smartcourse.lms.cli create-admin` does) and
        returns its access token."""
        from smartcourse.lms.cli import create_admin

        create_admin(self.database_url, email, name, password)
        return self.login(email, password)

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def eventually(what: str, probe: Callable[[], Any], timeout: float = 240, every: float = 1.0) -> Any:
        """`testkit.polling.eventually` with the browser tests' pace (asynchronous ingestion, events)."""
        return eventually(what, probe, timeout=timeout, every=every)


# Package scope, not session: the runtime drives every trigger of this session's stage (its S3
# queues, topics and schedules), so it must stop when the browser tests end, or it races the later
# tests that deliver those triggers themselves (seen: an in-process ingest test found its upload
# already failed by this runtime's IngestFunction and counted a duplicate).
@pytest.fixture(scope="package")
def web_stack(stack_endpoints: Any, stage: str, database_url: str, function_env: dict[str, str],
              provisioned: Any) -> Iterator[WebStack]:
    from devstack import template as tpl
    from devstack.runtime import LocalRuntime, RuntimeOptions
    from devstack.stack import aws_clients
    from devstack.web import WebServer, template_csp

    api_port, web_port = free_ports(2)
    web_origin = f"http://127.0.0.1:{web_port}"
    # The template as deployed for this web origin: CORS allows exactly it (WebOrigin parameter).
    template = tpl.load(parameter_overrides={"Stage": stage, "WebOrigin": web_origin})
    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    runtime = LocalRuntime(template, {**function_env, "GROQ_API_KEY": "", "GROQ_API_KEY_SECRET_ARN": ""},
                           RuntimeOptions(http_port=api_port, schedule_rate_s=0.5), stage=stage,
                           kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                           s3_queues=provisioned)
    runtime.start()
    api_url = f"http://127.0.0.1:{api_port}"
    # Served with the CSP CloudFront adds in AWS (connect-src: this API and moto's S3).
    web = WebServer(api_base_url=api_url, stage=stage, port=web_port,
                    csp=template_csp([api_url, stack_endpoints.aws_endpoint_url]))
    try:
        web.start()
        assert runtime.wait_for_consumers(90), "the MSK mappings' consumers got no partitions"
        with httpx.Client(base_url=api_url, timeout=120) as api:
            yield WebStack(web_url=web.url, api_url=api_url, stage=stage, database_url=database_url, api=api,
                           runtime=runtime)
    finally:
        web.stop()
        runtime.stop()


# --- the browser --------------------------------------------------------------------------------

@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. Install it with "
                    "`make browser` (apt-get install chromium chromium-driver); `make test` does this itself.",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class BrowserLog:
    """What the pages of one test did. Uncaught errors and Content-Security-Policy violations fail
    the test; console errors and failed requests are there for the test to assert on (an API 4xx is
    logged as a console error by Chromium itself, so those alone do not fail a test)."""

    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.page_errors.append(f"{exc.name}: {exc.message}\n{exc.stack or ''}"))
        page.on("console", self._console)
        page.on("requestfailed", self._request_failed)
        page.on("request", lambda req: self.requests.append(f"{req.method} {req.url}"))
        return page

    def _request_failed(self, req: Any) -> None:
        line = f"{req.method} {req.url}: {req.failure or 'failed'}"
        self.failed_requests.append(line)
        if req.failure == "csp":  # Chromium's net::ERR_BLOCKED_BY_CSP
            self.csp_violations.append(line)

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        line = f"{msg.text} ({msg.location.get('url', '')})"
        self.console_errors.append(line)
        if "Content Security Policy" in msg.text:
            self.csp_violations.append(line)

    def summary(self) -> str:
        return "\n".join([*(f"uncaught: {e}" for e in self.page_errors),
                          *(f"CSP violation: {e}" for e in self.csp_violations),
                          *(f"console error: {e}" for e in self.console_errors),
                          *(f"request failed: {e}" for e in self.failed_requests)])


_LOG = pytest.StashKey[BrowserLog]()
_PAGES = pytest.StashKey[list[Any]]()


@pytest.fixture
def browser_log(request: pytest.FixtureRequest) -> BrowserLog:
    log = BrowserLog()
    request.node.stash[_LOG] = log
    return log


def _test_dir(node: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)[:120]


@pytest.fixture
def page(browser: Any, web_stack: WebStack, browser_log: BrowserLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=web_stack.web_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    p = browser_log.watch(context.new_page())
    request.node.stash[_PAGES] = [p]
    try:
        yield p
    finally:
        context.close()


PHONE_WIDTH = 375


@pytest.fixture
def phone(browser: Any, web_stack: WebStack, browser_log: BrowserLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page on a 375 px wide touch screen, for the narrow-screen checks (see `assert_fits`)."""
    context = browser.new_context(base_url=web_stack.web_url, viewport={"width": PHONE_WIDTH, "height": 740},
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    p = browser_log.watch(context.new_page())
    request.node.stash[_PAGES] = [p]
    try:
        yield p
    finally:
        context.close()


def assert_fits(page: Any) -> None:
    """The page needs no horizontal scrolling on the phone's screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page is {width}px wide on a {PHONE_WIDTH}px screen (horizontal scrolling)"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """shot(page, name): a full-page PNG, numbered in the order taken, under
    test-artifacts/browser/<test name>/ (the folder is emptied when the test starts)."""
    folder = _test_dir(request.node)
    shutil.rmtree(folder, ignore_errors=True)
    count = [0]

    def take(page: Any, name: str) -> Path:
        count[0] += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{count[0]:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fails the test when its page threw an uncaught JS error; on any failure, leaves a
    screenshot of the page as test-artifacts/browser/<test name>/failure.png."""
    try:
        result = yield
        log = item.stash.get(_LOG, None)
        if log is not None and (log.page_errors or log.csp_violations):
            raise AssertionError("the page threw uncaught JavaScript errors or broke its Content Security "
                                 "Policy (template.yaml WebSecurityHeaders):\n" + log.summary())
        return result
    except BaseException:
        log = item.stash.get(_LOG, None)
        if log is not None and log.summary():
            print(f"what the page logged:\n{log.summary()}")
        for p in item.stash.get(_PAGES, []):
            try:
                folder = _test_dir(item)
                folder.mkdir(parents=True, exist_ok=True)
                p.screenshot(path=str(folder / "failure.png"), full_page=True)
            except Exception:  # the page may be gone; the test's own error is what matters
                pass
        raise
