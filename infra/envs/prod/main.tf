# prod: three AZs with a NAT gateway each, 2 to 10 tasks per service (the specification's range), deletion
# protection on everything that holds state, governance instances kept warm (docs/architecture.md, Timeouts), 5 % of
# new requests traced (X-Ray charges per trace: docs/architecture.md, Tracing in AWS).
# (The module call is ../_shared/stack.tf, linked here as stack.tf.)
locals {
  environment          = "prod"
  network              = { az_count = 3, single_nat_gateway = false }
  deletion_protection  = true
  log_retention_days   = 30
  orbit                = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 10 }
  axon                 = { cpu = 1024, memory = 2048, min_capacity = 2, max_capacity = 10 }
  governance           = { memory_size = 1024, timeout = 10, reserved_concurrency = 100, provisioned_concurrency = 2, log_level = "INFO" }
  trace_sampling_ratio = 0.05
}
