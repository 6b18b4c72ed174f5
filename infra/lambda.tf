resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  # checkov:skip=CKV_AWS_338:Operational logs of a sample system; retention is the log_retention_days variable (default 30 days), raise it where a policy asks for a year.
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  # checkov:skip=CKV_AWS_116:Every function is invoked synchronously (Step Functions tasks, API Gateway); a DLQ only receives failed asynchronous invocations. Failures go to the saga's Catch/compensation and to alarms.
  # checkov:skip=CKV_AWS_117:The functions reach only AWS APIs (DynamoDB, SNS, Step Functions) with IAM; a VPC would add NAT or endpoints and protect nothing.
  # checkov:skip=CKV_AWS_173:The environment holds only resource names, ARNs, a threshold and the public URL - no secrets; Lambda encrypts it at rest with its service key.
  # checkov:skip=CKV_AWS_272:The zips are built locally by cargo-lambda and uploaded by Terraform; there is no signing profile (AWS Signer) in this project.
  # checkov:skip=CKV_AWS_115:Reserved concurrency fails to apply in new accounts (quota of 10 unreserved executions); load is bounded by the API's throttling variables instead.

  function_name = "${var.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.lambda[each.key].arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]

  filename         = local.artifacts[each.key]
  source_code_hash = filebase64sha256(local.artifacts[each.key])

  memory_size = each.value.memory_mb
  timeout     = each.value.timeout_s

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda[each.key].name
    application_log_level = var.log_level
    system_log_level      = "INFO"
  }

  environment {
    variables = { for name in each.value.env : name => local.env_values[name] }
  }

  # The role must be able to write logs and traces before the first invocation.
  depends_on = [aws_iam_role_policy.lambda]
}

# ---------------------------------------------------------------------------
# Redelivery of approval decisions recorded but not delivered (approval-
# callback's POST answered 503, or the function stopped between recording and
# SendTaskSuccess): the approvals table's stream invokes approval-callback,
# which redelivers without a second click (functions/approval-callback/src/stream.rs).
#
# - The filter passes only writes that leave an approval decided and not
#   delivered (the same pattern as approval_callback::stream::stream_filter;
#   the workspace tests compare them), so pending, delivered, expired and
#   TTL-deleted approvals never invoke the function.
# - The batching window is the function's timeout: by then the decision's own
#   POST has finished (delivered it, or answered 503), so the stream does not
#   race it. A redelivery that does race one is still safe: SendTaskSuccess
#   accepts one of them and the other finds the approval delivered.
# - A record whose redelivery fails (Step Functions or DynamoDB unavailable) is
#   reported alone (ReportBatchItemFailures) and retried at most
#   maximum_retry_attempts times, within maximum_record_age_in_seconds of its
#   write; other approvals behind it on the shard wait only that long. Then
#   Lambda publishes the batch's metadata (shard, sequence numbers, never the
#   items) to the alerts topic and moves on: the decision stays recorded,
#   the approver's link offers to send it again, and docs/deploying.md says
#   what the operator does.
locals {
  # What each event source mapping does with its function's role: Lambda reads
  # the stream, and publishes the metadata of records it gives up on to the
  # topic. iam.tf grants exactly this (not in aws-permissions.json: the code
  # makes neither call).
  stream_sources = {
    "approval-callback" = {
      stream_arn           = aws_dynamodb_table.this["approvals"].stream_arn
      on_failure_topic_arn = aws_sns_topic.this["alerts"].arn
    }
  }
}

resource "aws_lambda_event_source_mapping" "approval_redelivery" {
  function_name     = aws_lambda_function.this["approval-callback"].arn
  event_source_arn  = local.stream_sources["approval-callback"].stream_arn
  starting_position = "LATEST"

  batch_size                         = 10
  maximum_batching_window_in_seconds = local.functions["approval-callback"].timeout_s
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 10
  maximum_record_age_in_seconds      = 3600

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT", "MODIFY"]
        dynamodb = {
          NewImage = {
            status    = { S = ["APPROVED", "REJECTED"] }
            delivered = { BOOL = [false] }
          }
        }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = local.stream_sources["approval-callback"].on_failure_topic_arn
    }
  }

  # The role must be able to read the stream before the mapping is created
  # (Lambda checks it).
  depends_on = [aws_iam_role_policy.lambda]
}
