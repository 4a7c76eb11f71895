"""Certificates over HTTP: the caller's certificates, a short-lived download link, the public
check (no login) and revocation by admins. Logic lives in `smartcourse.certificates.service`.

GET /certificates/{code} answers 200 with status "valid" or "revoked" (reason and date), or
"withdrawn" (the holder deleted their account and withdrew it: the code and the date only), and 404
with status "unknown" (and the usual error object) for a code that names no certificate.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import body, endpoint, principal
from chalicelib.web import json_response
from smartcourse.certificates import schemas as s
from smartcourse.certificates import service
from smartcourse.certificates.objects import S3CertificateStore
from smartcourse.observability import current_correlation_id

bp = Blueprint(__name__)
TAG = "certificates"
CERT = "/certificates/{code}"


def _store() -> S3CertificateStore:
    return S3CertificateStore(deps.s3(), deps.settings().certificates_bucket)


@endpoint(bp, "/me/certificates", "GET", summary="The caller's certificates (valid and revoked), newest first",
          tag=TAG, response=s.MyCertificates)
def my_certificates() -> Response:
    p = principal(bp)
    with deps.database().transaction() as conn:
        items = service.my_certificates(conn, p)
    return json_response({"items": items})


@endpoint(bp, CERT, "GET", summary="Public check of a certificate code: valid, revoked (reason, date) or unknown",
          tag=TAG, response=s.CertificateCheck, auth=False)
def check(code: str) -> Response:
    with deps.database().transaction() as conn:
        status, payload = service.verify(conn, code)
    return json_response(payload, status, headers={"Cache-Control": "no-store"})


@endpoint(bp, CERT + "/download", "GET", summary="A short-lived link to the PDF (the owner and admins)",
          tag=TAG, response=s.DownloadLink)
def download(code: str) -> Response:
    p = principal(bp)
    with deps.database().transaction() as conn:
        link = service.download(conn, p, code, _store())
    return json_response(link, headers={"Cache-Control": "no-store"})


@endpoint(bp, CERT + "/revoke", "POST", summary="Revoke a certificate with a reason (admins)", tag=TAG,
          request=s.RevokeRequest, response=s.CertificateCheck)
def revoke(code: str) -> Response:
    p = principal(bp)
    req = body(bp, s.RevokeRequest)
    with deps.database().transaction() as conn:
        cert = service.revoke(conn, p, code, req.reason, correlation_id=current_correlation_id())
    return json_response(cert.public_view())
