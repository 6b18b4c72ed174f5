terraform {
  # 1.6: the oldest release this configuration is written for (lifecycle
  # preconditions, optional object attributes, `one()`); nothing newer is needed.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: `data.aws_region.current.region` replaces the deprecated `.name`.
      version = "~> 6.0"
    }
  }
}
