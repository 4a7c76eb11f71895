"""Cross-origin calls as the web app makes them, from a page on the web server's origin in real
Chromium: preflighted API and assistant calls (JSON body, Authorization) whose successes and errors
the script can read, and a presigned POST upload straight to S3 (moto) from that origin."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.conftest import BrowserLog, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Runs in the page: fetch with the headers the app sends, return what a script can see.
FETCH = """async ([url, method, headers, body]) => {
  const r = await fetch(url, {method, headers, body: body === null ? undefined : body});
  return {status: r.status, body: await r.text(), correlation: r.headers.get("X-Correlation-Id")};
}"""

UPLOAD = """async ([url, fields, text]) => {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", new Blob([text], {type: "text/markdown"}), "notes.md");
  const r = await fetch(url, {method: "POST", body: form});
  return {status: r.status, body: await r.text()};
}"""


def call(page: Any, url: str, method: str = "GET", headers: dict[str, str] | None = None,
         body: str | None = None) -> dict[str, Any]:
    return dict(page.evaluate(FETCH, [url, method, headers or {}, body]))


def test_the_page_reads_api_and_assistant_answers_and_errors_across_origins(
        page: Any, web_stack: WebStack, browser_log: BrowserLog) -> None:
    # Given the app's page on its own origin, and an account made through the API
    page.goto("/")
    api = web_stack.api_url
    assert not api.startswith(web_stack.web_url)
    email = web_stack.unique_email("cors")
    token = web_stack.register(email, "instructor")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # When the page sends preflighted requests (JSON bodies, Authorization) to the API
    bad_login = call(page, f"{api}/auth/login", "POST", {"Content-Type": "application/json"},
                     '{"email": "nobody@example.com", "password": "wrong-password"}')
    me = call(page, f"{api}/me", headers=auth)
    created = call(page, f"{api}/courses", "POST", {**auth, "Idempotency-Key": str(uuid.uuid4()),
                                                     "X-Correlation-Id": "from-the-browser"},
                   '{"title": "CORS in a browser", "description": "d"}')
    # and to the assistant
    ask = call(page, f"{api}/courses/{uuid.uuid4()}/assistant/ask", "POST", auth, '{"question": "why?"}')
    no_token = call(page, f"{api}/courses/{uuid.uuid4()}/assistant/ask", "POST",
                    {"Content-Type": "application/json"}, '{"question": "why?"}')

    # Then the script reads every status, body and the exposed correlation id
    assert bad_login["status"] == 401 and '"error"' in bad_login["body"] and bad_login["correlation"]
    assert me["status"] == 200 and email in me["body"]
    assert created["status"] == 201 and created["correlation"] == "from-the-browser"
    assert ask["status"] == 404 and '"error"' in ask["body"]
    assert no_token["status"] == 401 and '"unauthorized"' in no_token["body"]
    assert browser_log.failed_requests == [], browser_log.summary()


def test_a_presigned_post_upload_from_the_web_origin_reaches_s3(
        page: Any, web_stack: WebStack, browser_log: BrowserLog, stack_endpoints: Any) -> None:
    from devstack.stack import aws_clients

    # Given an instructor's course and an asset declared through the API (a presigned POST)
    token = web_stack.register(web_stack.unique_email("upload"), "instructor")
    auth = web_stack.auth(token)
    course = web_stack.api.post("/courses", json={"title": "Uploads", "description": "d"}, headers=auth).json()
    text = "# Tides\n\nThe Moon pulls the oceans.\n"
    created = web_stack.api.post(f"/courses/{course['id']}/assets", headers=auth, json={
        "filename": "notes.md", "content_type": "text/markdown", "size": len(text.encode())})
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    assert upload["method"] == "POST"

    # When the page on the web origin posts the file straight to the bucket
    page.goto("/")
    result = page.evaluate(UPLOAD, [upload["url"], upload["fields"], text])

    # Then S3 accepted it across origins and holds exactly those bytes
    assert 200 <= result["status"] < 300, result
    s3, _ = aws_clients(stack_endpoints.aws_endpoint_url)
    key = created.json()["asset"]["s3_key"]
    bucket = upload["fields"].get("bucket") or upload["url"].rstrip("/").rsplit("/", 1)[-1]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.decode() == text
    assert browser_log.failed_requests == [], browser_log.summary()


def test_a_page_on_another_origin_cannot_read_the_api(page: Any, web_stack: WebStack) -> None:
    from devstack.web import WebServer

    # Given the template deployed for the web server's origin only (WebOrigin), and a page served
    # from another origin (another port)
    other = WebServer(api_base_url=web_stack.api_url, stage=web_stack.stage, port=0).start()
    try:
        page.goto(f"{other.url}/")
        # When its script calls the API, then the browser refuses to hand over the response
        outcome = page.evaluate("""async (url) => {
          try { const r = await fetch(url); return "read " + r.status; } catch (e) { return "blocked"; }
        }""", f"{web_stack.api_url}/courses")
        assert outcome == "blocked"
        # while the app's own origin reads the same URL
        page.goto("/")
        assert page.evaluate("async (url) => (await fetch(url)).status", f"{web_stack.api_url}/courses") == 401
    finally:
        other.stop()
