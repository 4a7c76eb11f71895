"""The small HTML pages the API serves for links opened from emails (unsubscribe, password reset,
email confirmation): one layout, every value escaped, never cached, no referrer sent on."""

from __future__ import annotations

import html

from chalice import Response

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 36rem; margin: 2rem auto; padding: 0 1rem">
<h1 style="font-size: 1.5rem">{title}</h1>
<p>{text}</p>
{form}</body></html>
"""


def page(title: str, text: str, status: int = 200, form: str = "") -> Response:
    """`form`: trusted markup (the route's own form, no caller text)."""
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return Response(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8",
                                                            "Cache-Control": "no-store",
                                                            "Referrer-Policy": "no-referrer"})
