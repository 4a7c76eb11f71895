"""The web app deploys as static files: a private bucket that only this CloudFront distribution
(through its Origin Access Control) may read, HTTPS only, and a CSP that lets the app reach the API
and the assets bucket and nothing else. cfn-lint / sam validate check the syntax (make lint); these
check the intent."""

from __future__ import annotations

from typing import Any

from devstack.template import _Tag, load_raw
from tests.conftest import ROOT

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def res(name: str) -> dict[str, Any]:
    return dict(load_raw()["Resources"][name]["Properties"])


def text(value: Any) -> str:
    """The template text inside short-form intrinsics (enough to check what they reference)."""
    if isinstance(value, _Tag):
        return text(value.value)
    if isinstance(value, list):
        return " ".join(text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(text(v) for v in value.values())
    return str(value)


def test_the_web_bucket_is_private_and_encrypted() -> None:
    bucket = res("WebBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert "WebsiteConfiguration" not in bucket


def test_only_this_distribution_reads_the_bucket() -> None:
    statements = res("WebBucketPolicy")["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source_arn = text(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert ":distribution/${WebDistribution}" in source_arn


def test_the_distribution_serves_the_bucket_over_https_through_oac() -> None:
    cfg = res("WebDistribution")["DistributionConfig"]
    assert cfg["DefaultRootObject"] == "index.html"
    assert cfg["HttpVersion"] == "http2and3" and cfg["PriceClass"] == "PriceClass_100"
    (origin,) = cfg["Origins"]
    assert text(origin["OriginAccessControlId"]) == "WebOriginAccessControl.Id"
    assert text(origin["DomainName"]) == "WebBucket.RegionalDomainName"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    behaviours = [cfg["DefaultCacheBehavior"], *cfg["CacheBehaviors"]]
    assert all(b["ViewerProtocolPolicy"] == "redirect-to-https" for b in behaviours)
    assert all(text(b["ResponseHeadersPolicyId"]) == "WebSecurityHeaders" for b in behaviours)
    assert cfg["DefaultCacheBehavior"]["CachePolicyId"] == CACHING_OPTIMIZED
    never_cached = {b["PathPattern"] for b in cfg["CacheBehaviors"] if b["CachePolicyId"] != CACHING_OPTIMIZED}
    assert never_cached == {"/index.html", "/config.json"}
    oac = res("WebOriginAccessControl")["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3" and oac["SigningBehavior"] == "always"


def test_the_csp_allows_the_api_and_the_assets_bucket_and_forbids_framing() -> None:
    headers = res("WebSecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = text(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "script-src 'self'" in csp
    connect = next(part for part in csp.split("; ") if "connect-src" in part)
    assert "${ServerlessRestApi}.execute-api" in connect and "${AssetsBucket}" in connect
    assert headers["FrameOptions"]["FrameOption"] == "DENY"


def test_outputs_name_the_url_bucket_and_distribution_the_deploy_script_reads() -> None:
    outputs = load_raw()["Outputs"]
    assert {"WebUrl", "WebBucketName", "WebDistributionId", "ApiUrl"} <= set(outputs)
    script = (ROOT / "scripts" / "deploy_web.sh").read_text()
    for name in ("WebBucketName", "WebDistributionId", "ApiUrl", "WebUrl"):
        assert f"output {name}" in script or f"$(output {name})" in script, name
