resource "aws_dynamodb_table" "this" {
  for_each = local.tables
  # checkov:skip=CKV_AWS_119:Encrypted with the AWS-owned key by default, a customer-managed key through the kms_key_arn variable; a key of its own is a cost and a key policy to run that a sample deployment should not impose.

  name                        = "${var.name}-${each.key}"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  deletion_protection_enabled = var.table_deletion_protection

  # NEW_IMAGE: the mapping's filter reads the approval's status and delivered
  # flag (lambda.tf). The stream holds the items for 24 hours, task tokens
  # included, encrypted like the table; only approval-callback's role reads it.
  stream_enabled   = each.value.stream_view_type != null
  stream_view_type = each.value.stream_view_type

  attribute {
    name = each.value.hash_key
    type = "S"
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  # enabled = false is DynamoDB's default encryption with an AWS-owned key.
  server_side_encryption {
    enabled     = var.kms_key_arn != null
    kms_key_arn = var.kms_key_arn
  }
}
