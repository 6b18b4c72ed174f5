provider "aws" {
  # null: the usual AWS_REGION / AWS_PROFILE / ~/.aws/config resolution applies.
  region = var.aws_region

  default_tags {
    tags = merge({
      Project   = var.name
      ManagedBy = "terraform"
    }, var.tags)
  }
}
