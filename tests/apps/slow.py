"""A Flask app with one slow endpoint, served by gunicorn with the services' settings in the shutdown test."""

import time

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/slow")
    def slow() -> dict:
        time.sleep(1.5)
        return {"finished": True}

    return app
