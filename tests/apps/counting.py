"""A Flask app with the services' metrics, served by several gunicorn workers in the metrics test."""

import os

from flask import Flask

from agent_runtime.metrics import init_metrics
from agent_runtime.web import init_service


def create_app() -> Flask:
    app = Flask(__name__)
    init_service(app, "counting")
    init_metrics(app, "counting")

    @app.get("/ping")
    def ping() -> dict:
        return {"pid": os.getpid()}

    return app
