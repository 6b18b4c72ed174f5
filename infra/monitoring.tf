locals {
  alarm_actions = [aws_sns_topic.this["alerts"].arn]
  # OK notifications are opt-in (var.alarm_ok_notifications).
  ok_actions = var.alarm_ok_notifications ? local.alarm_actions : []

  # The keys are part of the alarms' resource addresses
  # (aws_cloudwatch_metric_alarm.state_machine["executions-failed"]): keep them.
  state_machine_alarms = {
    "executions-failed"    = { metric = "ExecutionsFailed", threshold = var.execution_failure_alarm_threshold }
    "executions-timed-out" = { metric = "ExecutionsTimedOut", threshold = 1 }
    "execution-throttled"  = { metric = "ExecutionThrottled", threshold = 1 }
  }

  # Errors and Throttles of every function: "<fn>-errors", "<fn>-throttles".
  function_alarm_thresholds = {
    Errors    = var.function_error_alarm_threshold
    Throttles = 1
  }
  function_alarms = {
    for pair in setproduct(keys(local.functions), keys(local.function_alarm_thresholds)) :
    "${pair[0]}-${lower(pair[1])}" => {
      function  = pair[0]
      metric    = pair[1]
      threshold = local.function_alarm_thresholds[pair[1]]
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "state_machine" {
  for_each = local.state_machine_alarms

  alarm_name        = "${var.name}-state-machine-${each.key}"
  alarm_description = "Order saga: ${each.value.metric} in the last 5 minutes."
  namespace         = "AWS/States"
  metric_name       = each.value.metric
  dimensions = {
    StateMachineArn = aws_sfn_state_machine.this.arn
  }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = local.function_alarms

  alarm_name        = "${var.name}-function-${each.key}"
  alarm_description = "${each.value.function}: Lambda ${each.value.metric} in the last 5 minutes."
  namespace         = "AWS/Lambda"
  metric_name       = each.value.metric
  dimensions = {
    FunctionName = aws_lambda_function.this[each.value.function].function_name
  }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
}

# HTTP APIs report "5xx" (REST APIs: "5XXError").
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name        = "${var.name}-api-5xx"
  alarm_description = "HTTP API: server errors in the last 5 minutes."
  namespace         = "AWS/ApiGateway"
  metric_name       = "5xx"
  dimensions = {
    ApiId = aws_apigatewayv2_api.this.id
  }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
}
