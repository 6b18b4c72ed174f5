# One customer-managed key for the SNS topics and the log groups.
#
# SNS: CloudWatch alarms can publish to an encrypted topic only under a key
# whose policy lets cloudwatch.amazonaws.com use it, which rules out the
# AWS-managed alias/aws/sns. Publishers (request-approval, the state machine)
# get kms:GenerateDataKey/Decrypt on it through their IAM roles (iam.tf).
#
# Logs: the state machine's log group receives execution data (order lines,
# addresses) when var.log_execution_data is on (off by default), so it, the
# functions' and the API's log groups are encrypted with it as well.
resource "aws_kms_key" "this" {
  description             = "${var.name}: SNS topics and CloudWatch log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:This is a key policy: Resource "*" means this key only, and kms:* for the account root is the default key policy that lets IAM policies grant use of the key.
  # checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only (see CKV_AWS_109).
  # checkov:skip=CKV_AWS_356:Key policy: Resource "*" means this key only (see CKV_AWS_109).

  # The default key policy: the account administers the key and IAM policies
  # decide who may use it.
  statement {
    sid       = "AccountAdministersKeyAndDelegatesUseToIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsThisStacksLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type = "Service"
      # The regional principal, logs.<region>.<suffix> (the data source's id).
      identifiers = [data.aws_service_principal.this["logs"].id]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${local.state_machine_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/apigateway/${var.name}",
      ]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.this["cloudwatch"].name]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"]
    }
  }
}
