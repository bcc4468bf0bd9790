"""Structural tests of the Terraform in infra/ (parsed with python-hcl2; no provider, no AWS account)."""
