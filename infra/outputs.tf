output "api_url" {
  description = "Base URL of the HTTP API ($default stage): POST $api_url/orders."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "public_base_url" {
  description = "Base of the links in approval emails and of Location headers (public_base_url, or the API's endpoint)."
  value       = local.public_base_url
}

output "region" {
  description = "Region the system is deployed in (for the AWS CLI and make seed-catalog)."
  value       = local.region
}

output "state_machine_arn" {
  description = "ARN of the order saga state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "products_table_name" {
  description = "DynamoDB table of the catalog (make seed-catalog loads it)."
  value       = aws_dynamodb_table.this["products"].name
}

output "orders_table_name" {
  description = "DynamoDB table of the orders."
  value       = aws_dynamodb_table.this["orders"].name
}

output "approvals_table_name" {
  description = "DynamoDB table of the pending and decided approvals."
  value       = aws_dynamodb_table.this["approvals"].name
}

output "idempotency_table_name" {
  description = "DynamoDB table of the Idempotency-Key records."
  value       = aws_dynamodb_table.this["idempotency"].name
}

output "approvals_topic_arn" {
  description = "SNS topic of the approval emails."
  value       = aws_sns_topic.this["approvals"].arn
}

output "notifications_topic_arn" {
  description = "SNS topic of the customer notifications."
  value       = aws_sns_topic.this["notifications"].arn
}

output "alerts_topic_arn" {
  description = "SNS topic of the operator alerts (alarms, compensation failures)."
  value       = aws_sns_topic.this["alerts"].arn
}

output "function_names" {
  description = "Lambda function name of each function crate."
  value       = { for fn, f in aws_lambda_function.this : fn => f.function_name }
}

output "log_group_names" {
  description = "CloudWatch log groups: one per function, the state machine's and the API's access log."
  value = merge(
    { for fn, g in aws_cloudwatch_log_group.lambda : fn => g.name },
    { state-machine = aws_cloudwatch_log_group.sfn.name, api = aws_cloudwatch_log_group.api.name },
  )
}
