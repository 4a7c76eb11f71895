"""The LMS API (Chalice). Only registers blueprints; routes live in chalicelib/."""

from chalice import Chalice

from chalicelib.health import bp as health

app = Chalice(app_name="smartcourse-api")
app.register_blueprint(health)
