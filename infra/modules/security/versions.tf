terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
    # Ephemeral resources generate the first secret values without writing them to plan or state.
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.1"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.1.0"
    }
  }
}
