"""Traces in AWS (design §8): each ECS task runs an ADOT collector sidecar and the governance function the ADOT
collector extension; the applications read only the OpenTelemetry SDK's standard variables and send OTLP/HTTP to
localhost:4318; the collectors export to X-Ray through its VPC endpoint; operators read traces back."""

from __future__ import annotations

from typing import Any

import pytest

from .hcl_tools import (
    ENVS,
    MODULES,
    SHARED_ENV,
    as_list,
    blocks,
    expression,
    for_map_body,
    locals_of,
    nested,
    parse_dir,
    parse_file,
    parse_text,
    resolve_locals,
    variables_of,
)
from .terraform_validation import accepted

ECS = parse_dir(MODULES / "ecs")
ECS_LOCALS = locals_of(ECS)
LAMBDA = parse_dir(MODULES / "lambda")
LAMBDA_LOCALS = locals_of(LAMBDA)
STACK = parse_dir(MODULES / "stack")

# The OpenTelemetry specification's SDK environment variables the services are given (and read nothing else).
STANDARD_OTEL = {
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
}
XRAY_EXPORT = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def _environment(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["environment"]}


def _sidecar() -> dict[str, Any]:
    collection, body = for_map_body(ECS_LOCALS["collector_containers"])
    assert collection == "local.service_names"
    return body


def _ecs_collector_config() -> dict[str, Any]:
    collection, body = for_map_body(ECS_LOCALS["collector_config"], "yamlencode")
    assert collection == "local.service_names"
    return body


def _lambda_collector_config() -> dict[str, Any]:
    inner = expression(LAMBDA_LOCALS["collector_config"])
    assert inner.startswith("yamlencode(")
    assert inner.endswith(")")
    return parse_text(f"value = {inner[len('yamlencode(') : -1]}")["value"]


def _governance_environment() -> dict[str, str]:
    function = next(b.body for b in blocks(LAMBDA, "resource", "aws_lambda_function") if b.name == "governance")
    return nested(function, "environment")[0]["variables"]


def check_collector_config(config: dict[str, Any], components: dict[str, set[str]] | None = None) -> None:
    """The collector refuses to start on a pipeline naming an undefined component; `components` (kind -> names)
    are the ones the collector build has."""
    service = config["service"]
    for extension in as_list(service.get("extensions")):
        assert extension in config.get("extensions", {}), extension
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in as_list(pipeline.get(kind)):
                assert component in config.get(kind, {}), f"{name}: {kind} {component} is not defined"
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for component in config.get(kind, {}):
            if components is not None:
                assert component.split("/")[0] in components.get(kind, set()), f"{kind} {component} not in the build"


def test_the_collector_configs_are_complete():
    check_collector_config(_ecs_collector_config())
    # The ADOT Lambda layer's collector is a reduced build (aws-otel-lambda, adot/collector/lambdacomponents).
    lambda_build = {
        "receivers": {"otlp"},
        "exporters": {"awsxray", "awsemf", "prometheusremotewrite", "logging", "otlp", "otlphttp"},
        "extensions": {"sigv4auth"},
        "processors": set(),
    }
    check_collector_config(_lambda_collector_config(), lambda_build)
    with pytest.raises(AssertionError):
        check_collector_config({"service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["x"]}}}})
    with pytest.raises(AssertionError):
        check_collector_config({"processors": {"batch": {}}, "service": {"pipelines": {}}}, lambda_build)


def test_sidecar_receives_otlp_on_localhost_and_exports_to_xray():
    config = _ecs_collector_config()
    endpoint = resolve_locals(config["receivers"]["otlp"]["protocols"]["http"]["endpoint"], ECS_LOCALS)
    assert endpoint == "127.0.0.1:4318"  # the task's loopback only: nothing outside the task can send spans
    assert list(config["receivers"]["otlp"]["protocols"]) == ["http"]
    assert resolve_locals(ECS_LOCALS["otlp_endpoint"], ECS_LOCALS) == "http://localhost:4318"
    health = resolve_locals(config["extensions"]["health_check"]["endpoint"], ECS_LOCALS)
    assert health == "127.0.0.1:13133"  # what the image's /healthcheck probes
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]
    xray = config["exporters"]["awsxray"]
    assert xray["indexed_attributes"] == "${var.trace_indexed_attributes}"
    assert xray["aws_log_groups"] == ["/ecs/${name}"]  # the service's log group: X-Ray links traces to its logs
    assert config["processors"]["memory_limiter"]["limit_mib"] < _sidecar()["memory"]


def test_sidecar_does_not_weaken_the_task():
    sidecar = _sidecar()
    assert sidecar["name"] == "${local.collector_name}"
    assert sidecar["image"] == "${var.adot_collector_image}"
    assert sidecar["essential"] is False
    assert sidecar["user"] == "${local.container_user}"
    assert ECS_LOCALS["container_user"].split(":")[0] not in {"", "0", "root"}
    assert sidecar["readonlyRootFilesystem"] is True
    assert sidecar["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    assert "portMappings" not in sidecar
    assert "privileged" not in sidecar
    assert sidecar["healthCheck"]["command"] == ["CMD", "/healthcheck"]
    assert sidecar["restartPolicy"]["enabled"] is True
    assert 0 < sidecar["memoryReservation"] <= sidecar["memory"]
    assert sidecar["cpu"] > 0
    assert sidecar["logConfiguration"]["logDriver"] == "awslogs"
    assert (
        sidecar["logConfiguration"]["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.service[service].name}"
    )
    environment = _environment(sidecar)
    assert environment["AOT_CONFIG_CONTENT"] == "${local.collector_config[service]}"
    # Each task's smallest size leaves the application most of its memory.
    for env in ("dev", "staging", "prod"):
        sizes = locals_of([parse_file(ENVS / env / "main.tf")])
        for service in ("orbit", "axon"):
            assert sizes[service]["memory"] >= 2 * sidecar["memory"], (env, service)


@pytest.mark.parametrize("service", ["orbit", "axon"])
def test_applications_send_to_the_sidecar_with_the_standard_variables(service):
    container = ECS_LOCALS[f"{service}_container"]
    environment = _environment(container)
    otel = {name: value for name, value in environment.items() if name.startswith("OTEL_")}
    assert set(otel) == STANDARD_OTEL
    assert otel["OTEL_SERVICE_NAME"] == f"${{local.service_names.{service}}}"
    assert otel["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${local.otlp_endpoint}"
    assert otel["OTEL_TRACES_SAMPLER"] == "${local.trace_sampler}"
    assert ECS_LOCALS["trace_sampler"] == "parentbased_traceidratio"
    assert otel["OTEL_TRACES_SAMPLER_ARG"] == "${tostring(var.trace_sampling_ratio)}"
    # Started after the collector, stopped before it: no span is sent to a collector that is not there.
    assert container["dependsOn"] == [{"containerName": "${local.collector_name}", "condition": "START"}]


def test_governance_sends_to_the_collector_extension_with_the_same_variables():
    environment = _governance_environment()
    otel = {name: value for name, value in environment.items() if name.startswith("OTEL_")}
    assert set(otel) == STANDARD_OTEL
    assert otel["OTEL_EXPORTER_OTLP_ENDPOINT"] == resolve_locals(ECS_LOCALS["otlp_endpoint"], ECS_LOCALS)
    assert otel["OTEL_TRACES_SAMPLER"] == ECS_LOCALS["trace_sampler"]
    assert otel["OTEL_TRACES_SAMPLER_ARG"] == "${tostring(var.trace_sampling_ratio)}"
    assert otel["OTEL_SERVICE_NAME"] == "${local.governance_name}"
    assert environment["OPENTELEMETRY_COLLECTOR_CONFIG_URI"] == "env:ADOT_COLLECTOR_CONFIG"
    assert environment["ADOT_COLLECTOR_CONFIG"] == "${local.collector_config}"
    config = _lambda_collector_config()
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "localhost:4318"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]
    function = next(b.body for b in blocks(LAMBDA, "resource", "aws_lambda_function") if b.name == "governance")
    assert function["layers"] == ["${local.adot_layer_arn}"]
    assert nested(function, "tracing_config") == [{"mode": "Active"}]
    # The default layer is AWS's collector layer of the function's Region and architecture.
    default = expression(LAMBDA_LOCALS["adot_layer_arn"])
    assert "var.adot_collector_layer_arn" in default
    assert ":lambda:${local.region}:901920570463:layer:aws-otel-collector-" in default
    assert 'var.architecture == "arm64" ? "arm64" : "amd64"' in default


def test_the_xray_annotations_are_the_ids_agentctl_searches_by():
    indexed = locals_of(STACK)["trace_indexed_attributes"]
    assert {"agent_runtime.correlation_id", "agent_runtime.decision_id", "http.route"} <= set(indexed)  # agentctl trace
    for module in ("ecs", "lambda"):
        call = next(entry[module] for doc in STACK for entry in doc.get("module", []) if module in entry)
        assert call["trace_indexed_attributes"] == "${local.trace_indexed_attributes}"
    assert _lambda_collector_config()["exporters"]["awsxray"]["indexed_attributes"] == "${var.trace_indexed_attributes}"


def test_sampling_is_everything_in_dev_and_staging_and_five_percent_in_prod():
    ratios = {
        env: locals_of([parse_file(ENVS / env / "main.tf")])["trace_sampling_ratio"]
        for env in ("dev", "staging", "prod")
    }
    assert ratios == {"dev": 1, "staging": 1, "prod": 0.05}
    assert variables_of(parse_dir(SHARED_ENV))["trace_sampling_ratio"]["default"] is None
    call = next(entry["stack"] for doc in parse_dir(SHARED_ENV) for entry in doc.get("module", []) if "stack" in entry)
    assert call["trace_sampling_ratio"] == "${coalesce(var.trace_sampling_ratio, local.trace_sampling_ratio)}"
    for module in ("ecs", "lambda"):
        stack_call = next(entry[module] for doc in STACK for entry in doc.get("module", []) if module in entry)
        assert stack_call["trace_sampling_ratio"] == "${var.trace_sampling_ratio}"


@pytest.mark.parametrize("module", ["ecs", "lambda"])
def test_a_sampling_ratio_outside_0_to_1_is_refused_by_terraform(module):
    results = accepted(MODULES / module / "variables.tf", "trace_sampling_ratio", [0, 0.05, 1, -0.1, 1.5])
    assert results == {"0": True, "0.05": True, "1": True, "-0.1": False, "1.5": False}


def _allowed_actions(module: str, document: str) -> set[str]:
    docs = {block.name: block.body for block in blocks(parse_dir(MODULES / module), "data", "aws_iam_policy_document")}
    found: set[str] = set()
    for statement in nested(docs[document], "statement"):
        if statement.get("effect", "Allow") == "Allow":
            found.update(str(action) for action in as_list(statement.get("actions")))
    for source in as_list(docs[document].get("source_policy_documents")):
        name = str(source).split("aws_iam_policy_document.")[1].split(".")[0].split("[")[0]
        found |= _allowed_actions(module, name)
    return found


def test_the_collectors_may_export_and_operators_may_read_traces():
    assert _allowed_actions("ecs", "task_common") >= XRAY_EXPORT
    assert _allowed_actions("lambda", "governance") >= XRAY_EXPORT
    assert _allowed_actions("cicd", "boundary") >= XRAY_EXPORT  # the ceiling of every workload role
    assert {"xray:BatchGetTraces", "xray:GetTraceSummaries"} <= _allowed_actions("cicd", "deploy_state_and_read")
    # Reading traces is the operators' alone.
    for module, document in (("ecs", "task_common"), ("ecs", "orbit_task"), ("lambda", "governance")):
        assert not {
            action
            for action in _allowed_actions(module, document)
            if action.startswith("xray:Get") and "Trace" in action
        }


def test_xray_is_reached_through_a_vpc_endpoint():
    # Axon's subnets have no route out and Orbit's group no HTTPS egress but to the endpoints: without it the
    # collectors could not export.
    endpoints = str(locals_of(parse_dir(MODULES / "network"))["interface_endpoints"])
    assert '"xray"' in endpoints


def test_the_collector_image_is_pinned_and_pulled_through_the_projects_cache():
    ecr = parse_dir(MODULES / "ecr")
    [rule] = blocks(ecr, "resource", "aws_ecr_pull_through_cache_rule")
    assert rule.body == {"ecr_repository_prefix": "${local.cache_prefix}", "upstream_registry_url": "public.ecr.aws"}
    assert locals_of(ecr)["cache_prefix"] == "${var.project_name}/pub"
    default = variables_of(ecr)["adot_collector_image"]["default"]
    assert default.startswith("public.ecr.aws/aws-observability/aws-otel-collector:v")
    # One default wherever the image can be given.
    assert variables_of(STACK)["adot_collector_image"]["default"] == default
    assert variables_of(parse_dir(SHARED_ENV))["adot_collector_image"]["default"] == default
    results = accepted(
        MODULES / "ecr" / "variables.tf",
        "adot_collector_image",
        [default, default.rsplit(":", 1)[0] + ":latest", default.rsplit(":", 1)[0], "otel/opentelemetry-collector:0.1"],
    )
    assert list(results.values()) == [True, False, False, False]
    ecs_call = next(entry["ecs"] for doc in STACK for entry in doc.get("module", []) if "ecs" in entry)
    assert ecs_call["adot_collector_image"] == "${module.ecr.adot_collector_image}"
    assert ecs_call["adot_collector_repository_arn"] == "${module.ecr.adot_collector_repository_arn}"
    execution = next(b.body for b in blocks(ECS, "data", "aws_iam_policy_document") if b.name == "execution")
    [pull] = [s for s in nested(execution, "statement") if s["sid"] == "PullCollectorImageThroughCache"]
    assert pull["resources"] == ["${var.adot_collector_repository_arn}"]
    boundary = next(
        b.body for b in blocks(parse_dir(MODULES / "cicd"), "data", "aws_iam_policy_document") if b.name == "boundary"
    )
    [cache] = [s for s in nested(boundary, "statement") if s["sid"] == "ProjectPullThroughCache"]
    assert cache["resources"] == [
        "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${var.project_name}/pub/*"
    ]
