"""Deploy an AWS environment: preflight, images, Terraform, rollout, health, and a rollback when it goes wrong.

- tools.py: the external programs (git, docker, the Lambda build), run with a heartbeat;
- terraform.py: finding a terraform recent enough, and init/plan/apply through python-terraform;
- images.py: the ECR repositories and the images (docker build and push);
- workflow.py: the steps in order, the same list printed by --plan-only and carried out by a deploy.
"""
