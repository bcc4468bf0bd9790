"""boto3 clients follow the user's AWS configuration: AWS_REGION, then AWS_DEFAULT_REGION, then the profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime import aws


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile eu]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "eu")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def test_the_profile_region_applies(profile: None):
    assert aws.region() == "eu-west-3"
    assert aws.client("dynamodb").meta.region_name == "eu-west-3"


def test_aws_region_wins_over_the_profile(profile: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert aws.client("secretsmanager").meta.region_name == "ap-south-1"


def test_aws_default_region_wins_over_the_profile(profile: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    assert aws.region() == "sa-east-1"


def test_no_configuration_means_us_east_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert aws.region() == "us-east-1"
