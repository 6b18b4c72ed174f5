locals {
  # What each function's code calls, on which resources: the same content as
  # functions/<fn>/aws-permissions.json (action -> resources), written out by
  # hand so a change to either shows up in review. tests/tests/workspace/infra.rs
  # compares the two in both directions.
  function_permissions = {
    validate = {
      "dynamodb:GetItem"      = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:BatchGetItem" = [aws_dynamodb_table.this["products"].arn]
      "dynamodb:UpdateItem"   = [aws_dynamodb_table.this["orders"].arn]
    }
    reserve = {
      "dynamodb:GetItem" = [aws_dynamodb_table.this["orders"].arn]
      # TransactWriteItems is authorised per item: one UpdateItem per line and one for the order.
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn, aws_dynamodb_table.this["products"].arn]
    }
    pay = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn]
    }
    ship = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn]
    }
    compensate = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn, aws_dynamodb_table.this["products"].arn]
    }
    "request-approval" = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:PutItem"    = [aws_dynamodb_table.this["approvals"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn, aws_dynamodb_table.this["approvals"].arn] # approvals: expire the one a retry replaces
      "sns:Publish"         = [aws_sns_topic.this["approvals"].arn]
    }
    "approval-callback" = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["approvals"].arn, aws_dynamodb_table.this["orders"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["approvals"].arn, aws_dynamodb_table.this["orders"].arn]
      # SendTaskSuccess supports no resource-level permissions: AWS accepts only
      # Resource "*" (a narrower resource denies every call). The task token is
      # the capability: it names one waiting task of one execution.
      "states:SendTaskSuccess" = ["*"]
    }
    "api-handler" = {
      "dynamodb:GetItem"    = [aws_dynamodb_table.this["orders"].arn]
      "dynamodb:PutItem"    = [aws_dynamodb_table.this["orders"].arn, aws_dynamodb_table.this["idempotency"].arn]
      "dynamodb:UpdateItem" = [aws_dynamodb_table.this["orders"].arn] # an order that could not be started is marked FAILED
      # StartExecution replays an Idempotency-Key retry; DescribeExecution (its
      # dependent action) asks how the first one went, on this machine's executions,
      # and whether a start whose answer was lost ran before an order is given up.
      "states:StartExecution"    = [local.state_machine_arn]
      "states:DescribeExecution" = [local.state_machine_executions_arn]
    }
  }
}

# ---------------------------------------------------------------------------
# Functions: one role each.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.this["lambda"].name]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.functions

  name               = "${var.name}-${each.key}"
  description        = "Execution role of the ${each.key} function: only the calls its code makes."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.functions
  # checkov:skip=CKV_AWS_111:approval-callback's states:SendTaskSuccess on "*": the action has no resource-level permissions (AWS accepts only "*"); the task token is the capability. Every other grant names its resources.
  # checkov:skip=CKV_AWS_356:approval-callback's states:SendTaskSuccess on "*": AWS accepts only "*" for it (see CKV_AWS_111); every other "*" here is X-Ray, whose actions take no resource.

  # The calls the code makes (local.function_permissions).
  dynamic "statement" {
    for_each = local.function_permissions[each.key]
    content {
      actions   = [statement.key]
      resources = statement.value
    }
  }

  # Infrastructure-implied: the runtime writes to the function's own log group...
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }

  # ... and sends X-Ray segments (active tracing); these actions take no resource.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # ... and, for a function an event source mapping invokes (lambda.tf,
  # local.stream_sources), reads its stream (ListStreams too: Lambda checks the
  # role with it) ...
  dynamic "statement" {
    for_each = [for fn, source in local.stream_sources : source.stream_arn if fn == each.key]
    content {
      sid       = "EventSourceMappingReadsItsStream"
      actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
      resources = [statement.value]
    }
  }

  # ... and publishes the metadata of the records it gave up on.
  dynamic "statement" {
    for_each = [for fn, source in local.stream_sources : source.on_failure_topic_arn if fn == each.key]
    content {
      sid       = "EventSourceMappingReportsGivenUpRecords"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  # Publishing to a topic encrypted with a customer-managed key uses the
  # publisher's permissions on that key (the code's or the mapping's).
  dynamic "statement" {
    for_each = contains(keys(local.function_permissions[each.key]), "sns:Publish") || contains(keys(local.stream_sources), each.key) ? [aws_kms_key.this.arn] : []
    content {
      sid       = "EncryptMessagesForEncryptedTopics"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }

  # Tables under a customer-managed key (kms_key_arn), used through DynamoDB only.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTableKeyThroughDynamoDB"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
      resources = [statement.value]

      condition {
        # dynamodb.<region>.amazonaws.com, or .amazonaws.com.cn in aws-cn: the
        # host of this region's DynamoDB in any partition (AWS sets the key).
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.*"]
      }
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.functions

  name   = "calls"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# ---------------------------------------------------------------------------
# State machine.

data "aws_iam_policy_document" "sfn_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.this["states"].name]
    }

    # Only this account's order saga may use the role (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # The machine itself, or a version or alias of it (":<qualifier>").
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.state_machine_arn, "${local.state_machine_arn}:*"]
    }
  }
}

resource "aws_iam_role" "sfn" {
  name               = "${var.name}-state-machine"
  description        = "Role of the order saga state machine: its steps, its topics, its logs."
  assume_role_policy = data.aws_iam_policy_document.sfn_assume.json
}

data "aws_iam_policy_document" "sfn" {
  # lambda:invoke tasks name the unqualified ARN; ":*" covers versions and aliases.
  statement {
    sid     = "InvokeSagaSteps"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for fn in local.state_machine_functions : [
        aws_lambda_function.this[fn].arn,
        "${aws_lambda_function.this[fn].arn}:*",
      ]
    ])
  }

  statement {
    sid       = "PublishNotificationsAndAlerts"
    actions   = ["sns:Publish"]
    resources = [for topic in local.state_machine_topics : aws_sns_topic.this[topic].arn]
  }

  statement {
    sid       = "EncryptMessagesForEncryptedTopics"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }

  # Step Functions delivers logs through CloudWatch Logs' log delivery API,
  # whose actions take no resource: AWS documents Resource "*" for them.
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "sfn" {
  name   = "saga"
  role   = aws_iam_role.sfn.id
  policy = data.aws_iam_policy_document.sfn.json
}
