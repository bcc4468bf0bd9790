"""The hello-world ceiling: the smallest Flask app, served by gunicorn with the services' settings.

It answers GET / with a small JSON object, so what it measures is one Python hop here (gunicorn's gthread
worker, Flask's routing, JSON) and nothing of the zero-trust path.
"""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def hello() -> dict[str, str]:
        return {"status": "success", "message": "Hello, World!"}

    return app
