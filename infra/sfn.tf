locals {
  # The functions the state machine invokes, by the key used in local.functions.
  # The SFN role may invoke exactly these (iam.tf); the templatefile call below
  # passes exactly their ARNs (tests/tests/workspace/infra.rs checks both).
  state_machine_functions = ["validate", "reserve", "pay", "ship", "compensate", "request-approval"]

  # ... and publishes to exactly these topics.
  state_machine_topics = ["notifications", "alerts"]
}

# /aws/vendedlogs/ keeps CloudWatch Logs' resource policy small (AWS's advice
# for Step Functions log groups).
resource "aws_cloudwatch_log_group" "sfn" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  # checkov:skip=CKV_AWS_338:Operational logs of a sample system; retention is the log_retention_days variable (default 30 days), raise it where a policy asks for a year.
}

resource "aws_sfn_state_machine" "this" {
  # checkov:skip=CKV_AWS_285:Logging is level ALL; execution data is opt-in (var.log_execution_data) because RequestApproval's input carries the task token, which must never reach a log.
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.sfn.arn

  # Placeholders: docs/contracts.md. Each one sits inside a JSON string, so the
  # file stays valid JSON; approval_timeout_seconds becomes a number in the ASL
  # inside a JSONata expression ("{% ${approval_timeout_seconds} %}").
  definition = templatefile("${path.module}/../statemachines/order-saga.asl.json", {
    validate_function_arn         = aws_lambda_function.this["validate"].arn
    reserve_function_arn          = aws_lambda_function.this["reserve"].arn
    pay_function_arn              = aws_lambda_function.this["pay"].arn
    ship_function_arn             = aws_lambda_function.this["ship"].arn
    compensate_function_arn       = aws_lambda_function.this["compensate"].arn
    request_approval_function_arn = aws_lambda_function.this["request-approval"].arn
    notifications_topic_arn       = aws_sns_topic.this["notifications"].arn
    alerts_topic_arn              = aws_sns_topic.this["alerts"].arn
    approval_timeout_seconds      = var.approval_timeout_seconds
    # arn:${partition}:states:::lambda:invoke & co.: aws, aws-cn, aws-us-gov.
    partition = local.partition
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.sfn.arn}:*"
    include_execution_data = var.log_execution_data
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  # CreateStateMachine checks that the role can deliver logs; attach the policy first.
  depends_on = [aws_iam_role_policy.sfn]
}
