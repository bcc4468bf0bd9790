# dev: the smallest environment that still has the production shape. Two AZs and one shared NAT gateway, one or
# two tasks per service, no deletion protection (dev is torn down and rebuilt), no provisioned concurrency, every
# request traced.
# (The module call is ../_shared/stack.tf, linked here as stack.tf.)
locals {
  environment          = "dev"
  network              = { az_count = 2, single_nat_gateway = true }
  deletion_protection  = false
  log_retention_days   = 30
  orbit                = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
  axon                 = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 2 }
  governance           = { memory_size = 512, timeout = 10, reserved_concurrency = 10, provisioned_concurrency = 0, log_level = "DEBUG" }
  trace_sampling_ratio = 1
}
