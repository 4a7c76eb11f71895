"""The LMS API (Chalice). Only registers blueprints; routes live in chalicelib/."""

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from chalice import Chalice

from chalicelib.account_links import bp as account_links
from chalicelib.accounts import bp as accounts
from chalicelib.admin import bp as admin
from chalicelib.assets import bp as assets
from chalicelib.certificates_routes import bp as certificates
from chalicelib.courses import bp as courses
from chalicelib.enrollments import bp as enrollments
from chalicelib.health import bp as health
from chalicelib.notifications_routes import bp as notifications
from chalicelib.openapi import bp as openapi
from chalicelib.web import chalice_errors_as_json, cors_middleware, request_log

app = Chalice(app_name="smartcourse-api")
app.register_blueprint(health)
app.register_blueprint(accounts)
app.register_blueprint(account_links)
app.register_blueprint(admin)
app.register_blueprint(courses)
app.register_blueprint(assets)
app.register_blueprint(enrollments)
app.register_blueprint(certificates)
app.register_blueprint(notifications)
app.register_blueprint(openapi)
app.register_middleware(chalice_errors_as_json, "http")
app.register_middleware(cors_middleware, "http")
app.register_middleware(request_log, "http")

coldstart.loaded()  # last: freeze what the import made, collection back on
