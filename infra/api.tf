locals {
  # Exactly the routes of README.md ("HTTP API"). Order routes may sit behind the JWT
  # authorizer; approval routes stay public: the random approvalId in the
  # emailed link is the capability.
  routes = {
    "POST /orders"                 = { function = "api-handler", authorize = true }
    "GET /orders/{orderId}"        = { function = "api-handler", authorize = true }
    "GET /approvals/{approvalId}"  = { function = "approval-callback", authorize = false }
    "POST /approvals/{approvalId}" = { function = "approval-callback", authorize = false }
  }

  api_functions = toset([for route in local.routes : route.function])
  jwt_enabled   = var.jwt_issuer != null
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "Order saga: orders and approval links."
  protocol_type = "HTTP"

  lifecycle {
    precondition {
      condition     = (var.jwt_issuer == null) == (length(var.jwt_audience) == 0)
      error_message = "Set jwt_issuer and jwt_audience together, or neither."
    }
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.jwt_enabled ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "this" {
  for_each = local.api_functions

  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes
  # checkov:skip=CKV_AWS_309:Approval routes are public by design (the unguessable approvalId is the capability, see README.md "How it works"); order routes get the JWT authorizer when jwt_issuer is set.

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.this[each.value.function].id}"
  authorization_type = each.value.authorize && local.jwt_enabled ? "JWT" : "NONE"
  authorizer_id      = each.value.authorize && local.jwt_enabled ? one(aws_apigatewayv2_authorizer.jwt[*].id) : null
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/aws/vendedlogs/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  # checkov:skip=CKV_AWS_338:Operational logs of a sample system; retention is the log_retention_days variable (default 30 days), raise it where a policy asks for a year.
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  # routeKey, never the path: the path of an approval link holds its capability id.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      errorMessage       = "$context.error.message"
    })
  }

  default_route_settings {
    throttling_burst_limit = var.api_throttling_burst_limit
    throttling_rate_limit  = var.api_throttling_rate_limit
  }
}

# One permission per route, scoped to this API and that route's method and path
# ("GET /orders/{orderId}" -> ".../*/GET/orders/*"; the first * is the stage).
resource "aws_lambda_permission" "api" {
  for_each = local.routes

  statement_id  = "api-${trim(replace(each.key, "/[^A-Za-z0-9]+/", "-"), "-")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.value.function].function_name
  principal     = data.aws_service_principal.this["apigateway"].name
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/${replace(replace(each.key, " ", ""), "/[{][^}]+[}]/", "*")}"
}
