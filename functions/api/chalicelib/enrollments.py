"""Enrolling, the caller's enrollments, cancelling, and lesson progress with completion."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import body, endpoint, execute, principal, query
from smartcourse.http import path_id
from smartcourse.lms import schemas as s

bp = Blueprint(__name__)
TAG = "enrollments"
ENROLLMENT = "/enrollments/{enrollment_id}"


@endpoint(bp, "/courses/{course_id}/enrollments", "POST", summary="Enrol the caller in a published course",
          tag=TAG, request=s.EnrollRequest, response=s.Enrollment, status=201, idempotent=True)
def enroll(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    body(bp, s.EnrollRequest)
    return execute(bp, lambda svc: svc.enroll(p, cid), status=201, caller=p, idempotent=True)


@endpoint(bp, "/me/enrollments", "GET", summary="The caller's enrollments, newest first", tag=TAG,
          query=s.EnrollmentQuery, response=s.EnrollmentPage)
def my_enrollments() -> Response:
    p = principal(bp)
    q = query(bp, s.EnrollmentQuery)
    return execute(bp, lambda svc: svc.my_enrollments(p, q))


@endpoint(bp, ENROLLMENT, "DELETE", summary="Cancel an active enrollment", tag=TAG, response=s.Enrollment)
def cancel(enrollment_id: str) -> Response:
    p = principal(bp)
    eid = path_id(enrollment_id, "enrollment")
    return execute(bp, lambda svc: svc.cancel_enrollment(p, eid))


@endpoint(bp, ENROLLMENT + "/lessons/{lesson_id}/progress", "PUT",
          summary="Record progress on a lesson; completes the course when its rule is met", tag=TAG,
          request=s.ProgressRequest, response=s.ProgressUpdated)
def put_progress(enrollment_id: str, lesson_id: str) -> Response:
    p = principal(bp)
    eid, lid = path_id(enrollment_id, "enrollment"), path_id(lesson_id, "lesson")
    req = body(bp, s.ProgressRequest)
    return execute(bp, lambda svc: svc.update_progress(p, eid, lid, req))


@endpoint(bp, ENROLLMENT + "/progress", "GET", summary="Progress against the pinned version, and what is left",
          tag=TAG, response=s.Progress)
def get_progress(enrollment_id: str) -> Response:
    p = principal(bp)
    eid = path_id(enrollment_id, "enrollment")
    return execute(bp, lambda svc: svc.get_progress(p, eid))
