"""Courses, their draft structure (modules and lessons) and publishing."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import body, endpoint, execute, principal, query
from smartcourse.http import path_id
from smartcourse.lms import schemas as s

bp = Blueprint(__name__)
TAG = "courses"
COURSE = "/courses/{course_id}"
MODULE = COURSE + "/modules/{module_id}"
LESSON = MODULE + "/lessons/{lesson_id}"


@endpoint(bp, "/courses", "POST", summary="Create a draft course owned by the caller (instructor)", tag=TAG,
          request=s.CreateCourseRequest, response=s.Course, status=201, idempotent=True, errors=("422",))
def create_course() -> Response:
    p = principal(bp)
    req = body(bp, s.CreateCourseRequest)
    return execute(bp, lambda svc: svc.create_course(p, req), status=201, caller=p, idempotent=True)


@endpoint(bp, "/courses", "GET", summary="Courses the caller may see (published; own drafts), newest first", tag=TAG,
          query=s.CourseListQuery, response=s.CoursePage)
def list_courses() -> Response:
    p = principal(bp)
    q = query(bp, s.CourseListQuery)
    return execute(bp, lambda svc: svc.list_courses(p, q))


@endpoint(bp, COURSE, "GET", summary="A course with its structure (draft for editors, else a published version)",
          tag=TAG, query=s.CourseQuery, response=s.CourseDetail)
def get_course(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    q = query(bp, s.CourseQuery)
    return execute(bp, lambda svc: svc.get_course(p, cid, q))


@endpoint(bp, COURSE, "PATCH", summary="Change a course's settings, archive or restore it", tag=TAG,
          request=s.UpdateCourseRequest, response=s.Course, errors=("422",))
def update_course(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    req = body(bp, s.UpdateCourseRequest)
    return execute(bp, lambda svc: svc.update_course(p, cid, req))


@endpoint(bp, COURSE + "/publish", "POST", summary="Publish the draft as version N+1", tag=TAG,
          response=s.PublishResult, status=201, idempotent=True)
def publish(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    body(bp, s.EnrollRequest)  # no fields: rejects any
    return execute(bp, lambda svc: svc.publish(p, cid), status=201, caller=p, idempotent=True)


@endpoint(bp, COURSE + "/modules", "POST", summary="Add a module to the draft", tag=TAG,
          request=s.CreateModuleRequest, response=s.Module, status=201, idempotent=True)
def create_module(course_id: str) -> Response:
    p = principal(bp)
    cid = path_id(course_id, "course")
    req = body(bp, s.CreateModuleRequest)
    return execute(bp, lambda svc: svc.create_module(p, cid, req), status=201, caller=p, idempotent=True)


@endpoint(bp, MODULE, "PATCH", summary="Rename or move a module", tag=TAG,
          request=s.UpdateModuleRequest, response=s.Module)
def update_module(course_id: str, module_id: str) -> Response:
    p = principal(bp)
    cid, mid = path_id(course_id, "course"), path_id(module_id, "module")
    req = body(bp, s.UpdateModuleRequest)
    return execute(bp, lambda svc: svc.update_module(p, cid, mid, req))


@endpoint(bp, MODULE, "DELETE", summary="Delete a module and its lessons from the draft", tag=TAG, status=204)
def delete_module(course_id: str, module_id: str) -> Response:
    p = principal(bp)
    cid, mid = path_id(course_id, "course"), path_id(module_id, "module")
    return execute(bp, lambda svc: svc.delete_module(p, cid, mid), status=204)


@endpoint(bp, MODULE + "/lessons", "POST", summary="Add a lesson to a module of the draft", tag=TAG,
          request=s.CreateLessonRequest, response=s.Lesson, status=201, idempotent=True)
def create_lesson(course_id: str, module_id: str) -> Response:
    p = principal(bp)
    cid, mid = path_id(course_id, "course"), path_id(module_id, "module")
    req = body(bp, s.CreateLessonRequest)
    return execute(bp, lambda svc: svc.create_lesson(p, cid, mid, req), status=201, caller=p, idempotent=True)


@endpoint(bp, LESSON, "PATCH", summary="Edit or move a lesson", tag=TAG,
          request=s.UpdateLessonRequest, response=s.Lesson)
def update_lesson(course_id: str, module_id: str, lesson_id: str) -> Response:
    p = principal(bp)
    cid, mid, lid = path_id(course_id, "course"), path_id(module_id, "module"), path_id(lesson_id, "lesson")
    req = body(bp, s.UpdateLessonRequest)
    return execute(bp, lambda svc: svc.update_lesson(p, cid, mid, lid, req))


@endpoint(bp, LESSON, "DELETE", summary="Delete a lesson from the draft", tag=TAG, status=204)
def delete_lesson(course_id: str, module_id: str, lesson_id: str) -> Response:
    p = principal(bp)
    cid, mid, lid = path_id(course_id, "course"), path_id(module_id, "module"), path_id(lesson_id, "lesson")
    return execute(bp, lambda svc: svc.delete_lesson(p, cid, mid, lid), status=204)
