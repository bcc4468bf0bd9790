# staging: prod-like. Three AZs with a NAT gateway each, two tasks minimum per service, deletion protection on, every
# request traced (so that a test run's traces are all there).
# (The module call is ../_shared/stack.tf, linked here as stack.tf.)
locals {
  environment          = "staging"
  network              = { az_count = 3, single_nat_gateway = false }
  deletion_protection  = true
  log_retention_days   = 30
  orbit                = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 6 }
  axon                 = { cpu = 1024, memory = 2048, min_capacity = 2, max_capacity = 6 }
  governance           = { memory_size = 512, timeout = 10, reserved_concurrency = 50, provisioned_concurrency = 1, log_level = "INFO" }
  trace_sampling_ratio = 1
}
