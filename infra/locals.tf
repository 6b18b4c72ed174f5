data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# Service principals of the partition (aws, aws-cn, aws-us-gov): the provider
# knows which are not "<service>.amazonaws.com" there (logs in aws-cn is
# logs.amazonaws.com.cn, lambda stays lambda.amazonaws.com). `name` is
# <service>.<suffix>, `id` the regional <service>.<region>.<suffix>.
data "aws_service_principal" "this" {
  for_each = toset(["apigateway", "cloudwatch", "lambda", "logs", "states"])

  service_name = each.key
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # One entry per crate in functions/ (crate name = binary name = key here).
  # `env` lists exactly the variables the function's code reads (docs/contracts.md);
  # their values come from local.env_values. tests/tests/workspace/infra.rs checks
  # the keys against functions/*/ and the names against the contract.
  functions = {
    validate = {
      description = "Prices the order from the catalog and decides whether it needs approval."
      memory_mb   = 128
      timeout_s   = 10
      env         = ["PRODUCTS_TABLE", "ORDERS_TABLE", "APPROVAL_THRESHOLD_CENTS", "APPROVAL_THRESHOLD_CURRENCY"]
    }
    reserve = {
      description = "Reserves stock for every line in one transaction."
      memory_mb   = 128
      timeout_s   = 10
      env         = ["PRODUCTS_TABLE", "ORDERS_TABLE"]
    }
    pay = {
      description = "Charges the order through the payment provider."
      memory_mb   = 128
      timeout_s   = 15
      env         = ["ORDERS_TABLE"]
    }
    ship = {
      description = "Books the shipment with the carrier."
      memory_mb   = 128
      timeout_s   = 15
      env         = ["ORDERS_TABLE"]
    }
    compensate = {
      description = "Undoes what really happened (shipment, payment, stock), newest first."
      memory_mb   = 128
      timeout_s   = 30
      env         = ["PRODUCTS_TABLE", "ORDERS_TABLE"]
    }
    "request-approval" = {
      description = "Stores the task token and emails approve/reject links."
      memory_mb   = 128
      timeout_s   = 10
      env         = ["ORDERS_TABLE", "APPROVALS_TABLE", "APPROVALS_TOPIC_ARN", "PUBLIC_BASE_URL"]
    }
    "approval-callback" = {
      description = "Approval pages (GET) and decisions (POST) that resume the execution."
      memory_mb   = 256
      timeout_s   = 10
      env         = ["APPROVALS_TABLE", "ORDERS_TABLE"]
    }
    "api-handler" = {
      description = "POST /orders and GET /orders/{orderId}."
      memory_mb   = 256
      timeout_s   = 10
      env         = ["ORDERS_TABLE", "IDEMPOTENCY_TABLE", "STATE_MACHINE_ARN", "PUBLIC_BASE_URL", "MAX_OPEN_ORDERS_PER_CUSTOMER"]
    }
  }

  # Built by `make build` (cargo lambda build --release --output-format zip);
  # Terraform never builds.
  artifacts = { for fn in keys(local.functions) : fn => "${path.module}/../target/lambda/${fn}/bootstrap.zip" }

  # docs/contracts.md, "Tables". The approvals table's stream (its items as
  # written) invokes approval-callback to redeliver decisions (lambda.tf).
  tables = {
    products    = { hash_key = "sku", ttl_attribute = null, stream_view_type = null }
    orders      = { hash_key = "orderId", ttl_attribute = null, stream_view_type = null }
    approvals   = { hash_key = "approvalId", ttl_attribute = "ttl", stream_view_type = "NEW_IMAGE" }
    idempotency = { hash_key = "idempotencyKey", ttl_attribute = "ttl", stream_view_type = null }
  }

  topics = toset([
    "approvals",     # approval requests: one email per order at or above the threshold, with the links
    "notifications", # customer notifications published by the state machine
    "alerts",        # operator alerts: CloudWatch alarms and compensation failures
  ])

  # Built from its parts rather than read from aws_sfn_state_machine.this.arn:
  # api-handler needs it, and the state machine needs the functions.
  state_machine_name = var.name
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  # Every execution of it (execution:<machine name>:<execution name>).
  state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"

  # The API's endpoint has no stage path: the only stage is $default.
  public_base_url = coalesce(var.public_base_url, aws_apigatewayv2_api.this.api_endpoint)

  env_values = {
    PRODUCTS_TABLE              = aws_dynamodb_table.this["products"].name
    ORDERS_TABLE                = aws_dynamodb_table.this["orders"].name
    APPROVALS_TABLE             = aws_dynamodb_table.this["approvals"].name
    IDEMPOTENCY_TABLE           = aws_dynamodb_table.this["idempotency"].name
    APPROVALS_TOPIC_ARN         = aws_sns_topic.this["approvals"].arn
    STATE_MACHINE_ARN           = local.state_machine_arn
    APPROVAL_THRESHOLD_CENTS    = tostring(var.approval_threshold_cents)
    APPROVAL_THRESHOLD_CURRENCY = var.approval_threshold_currency
    PUBLIC_BASE_URL             = local.public_base_url
    # Orders not final per customer; the open-order counter item lives in the orders table.
    MAX_OPEN_ORDERS_PER_CUSTOMER = tostring(var.max_open_orders_per_customer)
  }
}
