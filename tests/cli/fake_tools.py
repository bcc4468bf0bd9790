"""Stand-ins for the programs `agentctl deploy` runs that cannot run here: terraform (>= 1.11 with providers)
and docker (no engine). They are executables on PATH, so agentctl runs them exactly as it runs the real ones
(python-terraform for terraform, subprocess for docker); each call is logged as a JSON line.

The fake terraform does what the real one would do to the working tree and to the emulated account:
- `init` writes .terraform/ in the environment's folder, and the provider lock file .terraform.lock.hcl unless
  -lockfile=readonly (then a missing lock file is an error, as with the real one);
- `plan` needs certificate_arn from a -var-file or TF_VAR_certificate_arn;
- `apply` of the ECR target creates the repositories; a full `apply` creates what a first deploy creates (the
  cluster, Orbit's target group, the services, the tables, the governance function and its `live` alias) and
  otherwise registers a new task-definition revision per service with the plan's image tag, points the services
  at it, publishes a Lambda version from lambda_zip_path and moves `live`.
The fake docker's `push` puts the image manifest into the emulated ECR.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COMMON = r"""
import json, os, sys
from pathlib import Path

LOG = os.environ["FAKE_TOOLS_LOG"]
args = sys.argv[1:]
with open(LOG, "a") as log:
    log.write(json.dumps({"tool": TOOL, "args": args, "cwd": os.getcwd()}) + "\n")


def options(name):
    prefix = f"-{name}="
    return [a[len(prefix):] for a in args if a.startswith(prefix)]
"""

TERRAFORM = (
    r"""
TOOL = "terraform"
"""
    + COMMON
    + r"""
command = args[0]
if command == "version":
    print(json.dumps({"terraform_version": VERSION, "platform": "linux_amd64"}))
    sys.exit(0)
if command == "init":
    Path(".terraform").mkdir(exist_ok=True)
    Path(".terraform", "terraform.tfstate").write_text(json.dumps({"backend": options("backend-config")}))
    lock = Path(".terraform.lock.hcl")
    if "-lockfile=readonly" in args:
        if not lock.exists():
            print("Error: Provider dependency changes detected (-lockfile=readonly)", file=sys.stderr)
            sys.exit(1)
    else:
        lock.write_text('provider "registry.terraform.io/hashicorp/aws" {\n  version = "6.99.0"\n}\n')
    print("Terraform has been successfully initialized!")
    sys.exit(0)


def load(path):
    text = Path(path).read_text()
    if path.endswith(".json"):
        return json.loads(text)
    values = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip('"')
    return values


if command == "plan":
    variables = {}
    if os.environ.get("TF_VAR_certificate_arn"):
        variables["certificate_arn"] = os.environ["TF_VAR_certificate_arn"]
    for path in options("var-file"):
        variables.update(load(path))
    for required in ("certificate_arn", "orbit_image_tag", "axon_image_tag"):
        if required not in variables:
            print(f"Error: No value for required variable {required}", file=sys.stderr)
            sys.exit(1)
    (out,) = options("out")
    Path(out).write_text(json.dumps({"variables": variables, "targets": options("target")}))
    print("Terraform will perform the following actions:\n  ~ update in-place")
    print("Plan: 0 to add, 3 to change, 0 to destroy.")
    sys.exit(2)

def register(ecs, project, service, image):
    return ecs.register_task_definition(
        family=f"{project}-{service}",
        containerDefinitions=[{"name": service, "image": image, "memory": 512}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )["taskDefinition"]["taskDefinitionArn"]


def first_release(project, images, zip_file):
    # What the first apply in a fresh account creates; False when the cluster exists already.
    import boto3
    from agent_runtime.names import Names
    from agent_runtime.tables import table_definitions

    ecs = boto3.client("ecs")
    cluster = f"{project}-cluster"
    if [c for c in ecs.describe_clusters(clusters=[cluster])["clusters"] if c["status"] == "ACTIVE"]:
        return False
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    target_group = boto3.client("elbv2").create_target_group(
        Name=f"{project}-orbit", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    ecs.create_cluster(clusterName=cluster)
    for service, image in images.items():
        balancers = [{"targetGroupArn": target_group, "containerName": "orbit", "containerPort": 8080}]
        ecs.create_service(
            cluster=cluster,
            serviceName=f"{project}-{service}",
            taskDefinition=register(ecs, project, service, image),
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
            loadBalancers=balancers if service == "orbit" else [],
        )
    role = boto3.client("iam").create_role(RoleName=f"{project}-governance", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda")
    function = f"{project}-governance"
    version = lam.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="governance.handler.lambda_handler",
        Code={"ZipFile": zip_file},
        Publish=True,
    )["Version"]
    lam.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(Names(project)):
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
    return True


if command == "apply":
    if os.environ.get("FAKE_TERRAFORM_APPLY_FAIL"):
        print("Error: creating ECS Task Definition: AccessDeniedException", file=sys.stderr)
        sys.exit(1)
    import boto3

    plan = json.loads(Path(args[-1]).read_text())
    variables = plan["variables"]
    project = variables["project_name"]
    ecr = boto3.client("ecr")
    uris = {}
    for service in ("orbit", "axon"):
        name = f"{project}/{service}"
        try:
            repo = ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")["repository"]
        except ecr.exceptions.RepositoryAlreadyExistsException:
            repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        uris[service] = repo["repositoryUri"]
    if plan["targets"]:
        print("Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
        sys.exit(0)
    images = {service: f"{uris[service]}:{variables[service + '_image_tag']}" for service in uris}
    zip_file = Path(variables["lambda_zip_path"]).read_bytes()
    if first_release(project, images, zip_file):
        print("Apply complete! Resources: 40 added, 0 changed, 0 destroyed.")
        sys.exit(0)
    ecs = boto3.client("ecs")
    for service, image in images.items():
        arn = register(ecs, project, service, image)
        ecs.update_service(cluster=f"{project}-cluster", service=f"{project}-{service}", taskDefinition=arn)
    lam = boto3.client("lambda")
    function = f"{project}-governance"
    version = lam.update_function_code(FunctionName=function, ZipFile=zip_file, Publish=True)["Version"]
    lam.update_alias(FunctionName=function, Name="live", FunctionVersion=version)
    print("Apply complete! Resources: 2 added, 3 changed, 0 destroyed.")
    sys.exit(0)

print(f"fake terraform: unsupported command {command}", file=sys.stderr)
sys.exit(1)
"""
)

DOCKER = (
    r"""
TOOL = "docker"
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"digest": "sha256:" + "0" * 64},
    "layers": [],
}
"""
    + COMMON
    + r"""
command = args[0]
if command == "version":
    print("27.3.1")
elif command == "login":
    password = sys.stdin.read()
    if not password:
        print("Error: no password on stdin", file=sys.stderr)
        sys.exit(1)
    print("Login Succeeded")
elif command == "build":
    dockerfile = args[args.index("-f") + 1]
    if not Path(dockerfile).is_file():
        print(f"unable to prepare context: {dockerfile} not found", file=sys.stderr)
        sys.exit(1)
elif command == "push":
    uri = args[1]
    repository, tag = uri.split("/", 1)[1].rsplit(":", 1)
    import boto3

    boto3.client("ecr").put_image(
        repositoryName=repository,
        imageTag=tag,
        imageManifest=json.dumps(MANIFEST),
        imageManifestMediaType=MANIFEST["mediaType"],
    )
    print(f"{tag}: digest: sha256:{'0' * 64}")
else:
    print(f"fake docker: unsupported command {command}", file=sys.stderr)
    sys.exit(1)
"""
)


def install(folder: Path, terraform_version: str = "1.11.4", docker: bool = True) -> None:
    """Write the fake `terraform` (reporting `terraform_version`) and `docker` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    scripts = {"terraform": f"VERSION = {terraform_version!r}\n" + TERRAFORM}
    if docker:
        scripts["docker"] = DOCKER
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)


def calls(log: Path, tool: str | None = None) -> list[list[str]]:
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return [e["args"] for e in entries if tool is None or e["tool"] == tool]
