terraform {
  # 1.6: the oldest release this configuration is written for (lifecycle
  # preconditions, optional object attributes, `one()`); nothing newer is needed.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: `data.aws_region.current.region` replaces the deprecated `.name`.
      # >= 6.62: `terraform validate` in make test checks infra/ against the
      # 6.62.0 schema (scripts/tfschema); a newer 6.x may add, never remove.
      version = ">= 6.62, < 7.0"
    }
  }
}
