"""The services' images in ECR: which tags are there, and docker build and push of the missing ones."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agentctl.ops.deploy.tools import Tools

PLATFORM = "linux/amd64"  # the task definitions' cpu_architecture X86_64
#: One Dockerfile for both services (relative to the repository root); --build-arg SERVICE picks the service.
DOCKERFILE = "services/Dockerfile"


@dataclass(frozen=True)
class Registry:
    """The project's ECR repositories, one per service (names.ecr_repository)."""

    ecr: Any
    names: Names

    def repository_uri(self, service: str) -> str | None:
        """The repository's URI, or None when it does not exist yet (a first deploy)."""
        try:
            repos = self.ecr.describe_repositories(repositoryNames=[self.names.ecr_repository(service)])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "RepositoryNotFoundException":
                return None
            raise
        return str(repos["repositories"][0]["repositoryUri"])

    def has_image(self, service: str, tag: str) -> bool:
        try:
            self.ecr.describe_images(repositoryName=self.names.ecr_repository(service), imageIds=[{"imageTag": tag}])
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            raise

    def login(self, tools: Tools) -> None:
        """docker login to the registry with a token from ECR (the password goes through stdin)."""
        tools.run(["docker", "version", "--format", "{{.Server.Version}}"], "docker (is the engine running?)")
        auth = self.ecr.get_authorization_token()["authorizationData"][0]
        user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
        registry = auth["proxyEndpoint"].removeprefix("https://")
        tools.run(["docker", "login", "--username", user, "--password-stdin", registry], "docker login", input=password)

    def build_and_push(self, tools: Tools, service: str, tag: str) -> str:
        """docker build -f services/Dockerfile --build-arg SERVICE=<service> -t <repository>:<tag> . in the
        repository root, then push; the URI."""
        uri = f"{self.repository_uri(service)}:{tag}"
        tools.run(
            [
                "docker", "build", "--platform", PLATFORM,
                "-f", DOCKERFILE, "--build-arg", f"SERVICE={service}",
                "-t", uri,
                "--label", f"org.opencontainers.image.revision={tag}",
                ".",
            ],
            f"docker build {service}",
        )  # fmt: skip
        tools.run(["docker", "push", uri], f"docker push {service}")
        return uri
