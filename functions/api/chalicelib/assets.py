"""Course assets: presigned uploads, listing with indexing status, deletion, presigned downloads."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import body, endpoint, execute, principal
from smartcourse.http import path_id
from smartcourse.lms import schemas as s

bp = Blueprint(__name__)
TAG = "assets"
ASSETS = "/courses/{course_id}/assets"
ASSET = ASSETS + "/{asset_id}"


@endpoint(bp, ASSETS, "POST", summary="Declare an asset and get a presigned POST that enforces its size and type",
          tag=TAG, request=s.CreateAssetRequest, response=s.AssetCreated, status=201, idempotent=True)
def create_asset(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    req = body(bp, s.CreateAssetRequest)
    return execute(bp, lambda svc: svc.create_asset(p, cid, req), status=201, caller=p, idempotent=True)


@endpoint(bp, ASSETS, "GET", summary="The course's assets with their indexing status", tag=TAG,
          response=s.AssetList)
def list_assets(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    return execute(bp, lambda svc: svc.list_assets(p, cid))


@endpoint(bp, ASSET, "DELETE", summary="Delete an asset (and its S3 object)", tag=TAG, status=204)
def delete_asset(course_id: str, asset_id: str) -> Response:
    p = principal(bp)
    cid, aid = path_id(course_id, "course"), path_id(asset_id, "asset")
    return execute(bp, lambda svc: svc.delete_asset(p, cid, aid), status=204)


@endpoint(bp, ASSET + "/download", "GET", summary="A presigned download (editors; learners of the course)",
          tag=TAG, response=s.Download)
def download_asset(course_id: str, asset_id: str) -> Response:
    p = principal(bp)
    cid, aid = path_id(course_id, "course"), path_id(asset_id, "asset")
    return execute(bp, lambda svc: svc.download_asset(p, cid, aid))
