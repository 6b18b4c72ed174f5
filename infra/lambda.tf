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
