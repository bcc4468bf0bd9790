"""A Flask app that echoes what it read of a request body, served by the services' gunicorn worker in the
slow-client tests."""

from flask import Flask

from agent_runtime.web import init_service, read_body


def create_app() -> Flask:
    app = Flask(__name__)
    init_service(app, "echo")

    @app.post("/echo")
    def echo() -> dict:
        body = read_body(64 * 1024)
        return {"length": len(body), "head": body[:32].decode("latin-1")}

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    return app
