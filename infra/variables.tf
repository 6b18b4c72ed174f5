variable "aws_region" {
  description = "AWS region to deploy into. null uses the standard AWS_REGION / profile resolution."
  type        = string
  default     = null

  validation {
    condition     = var.aws_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "aws_region must look like \"eu-central-1\" (or be null)."
  }
}

variable "name" {
  description = "Prefix of every resource name (functions, tables, topics, roles, alarms, the state machine and the API)."
  type        = string
  default     = "order-saga"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name))
    error_message = "name must be 3-30 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "architecture" {
  description = "Instruction set of the Lambda functions. Must match the build: `make deploy ARCH=arm64` or `ARCH=x86_64`."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "log_level" {
  description = "Application log level of the Lambda functions (Lambda advanced logging controls, JSON format). TRACE is refused: at TRACE the Lambda runtime logs every raw event and the AWS SDK every request body, which would put task tokens in the logs."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARN, ERROR, FATAL (TRACE would log raw events with task tokens)."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group this configuration creates (functions, state machine, API access logs)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "approval_threshold_cents" {
  description = "Orders whose total (minor units of approval_threshold_currency) is at or above this wait for a human approval (validate's APPROVAL_THRESHOLD_CENTS)."
  type        = number
  default     = 100000

  validation {
    condition     = var.approval_threshold_cents >= 0 && floor(var.approval_threshold_cents) == var.approval_threshold_cents
    error_message = "approval_threshold_cents must be a whole number >= 0."
  }
}

variable "approval_threshold_currency" {
  description = "The currency of approval_threshold_cents (ISO 4217, validate's APPROVAL_THRESHOLD_CURRENCY). Orders in any other currency always wait for a human approval."
  type        = string
  default     = "EUR"

  validation {
    condition     = can(regex("^[A-Z]{3}$", var.approval_threshold_currency))
    error_message = "approval_threshold_currency must be an ISO 4217 code: three upper-case letters, e.g. EUR."
  }
}

variable "approval_timeout_seconds" {
  description = "How long an order waits for the approver before it is rejected (the ASL's approval_timeout_seconds)."
  type        = number
  default     = 86400

  validation {
    condition     = var.approval_timeout_seconds >= 60 && var.approval_timeout_seconds <= 2592000 && floor(var.approval_timeout_seconds) == var.approval_timeout_seconds
    error_message = "approval_timeout_seconds must be a whole number of seconds between 60 and 2592000 (30 days)."
  }
}

variable "max_open_orders_per_customer" {
  description = "How many orders that are not final (stock is held while one waits for approval) one customer may have; one more is answered 429 with Retry-After."
  type        = number
  default     = 10

  validation {
    condition     = var.max_open_orders_per_customer >= 1 && var.max_open_orders_per_customer <= 10000 && floor(var.max_open_orders_per_customer) == var.max_open_orders_per_customer
    error_message = "max_open_orders_per_customer must be a whole number between 1 and 10000."
  }
}

variable "approver_email" {
  description = "Email address subscribed to the approvals topic (approve/reject links). null: no subscription. AWS sends a confirmation mail first."
  type        = string
  default     = null

  validation {
    condition     = var.approver_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.approver_email))
    error_message = "approver_email must be an email address (or null)."
  }
}

variable "alerts_email" {
  description = "Email address subscribed to the alerts topic (alarms, compensation failures). null: no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alerts_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alerts_email))
    error_message = "alerts_email must be an email address (or null)."
  }
}

variable "public_base_url" {
  description = "Base of the links in approval emails and Location headers, e.g. a custom domain (https://…, no trailing slash). null: the API's own endpoint."
  type        = string
  default     = null

  validation {
    condition     = var.public_base_url == null || can(regex("^https://[^/\\s]+(/[^\\s]*[^/\\s])?$", var.public_base_url))
    error_message = "public_base_url must start with https:// and must not end with a slash (or be null)."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the DynamoDB tables. null: AWS-owned key (no KMS charges, no key policy to manage)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>), or null."
  }
}

variable "table_deletion_protection" {
  description = "Turn on DynamoDB deletion protection for the four tables (then `make destroy` fails until it is turned off again)."
  type        = bool
  default     = false
}

variable "api_throttling_burst_limit" {
  description = "API Gateway stage burst limit (requests) for every route."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 0 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number >= 0."
  }
}

variable "api_throttling_rate_limit" {
  description = "API Gateway stage steady-state limit (requests per second) for every route."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit >= 0
    error_message = "api_throttling_rate_limit must be >= 0."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of a JWT authorizer on the order routes (e.g. a Cognito user pool). null: order routes are open. Approval routes are always public: their random id is the capability."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || can(regex("^https://", var.jwt_issuer))
    error_message = "jwt_issuer must be an https:// URL (or null)."
  }
}

variable "jwt_audience" {
  description = "Accepted audiences (aud / client_id) of the JWT authorizer. Required when jwt_issuer is set. null is the same as [] (no audiences)."
  type        = list(string)
  default     = []
  # null would reach length() in the precondition of api.tf and fail the plan.
  nullable = false
}

variable "tags" {
  description = "Tags added to every resource (on top of Project and ManagedBy)."
  type        = map(string)
  default     = {}
}

variable "log_execution_data" {
  description = "Include execution data (state inputs and outputs) in the state machine's ALL-level logs. Off by default: RequestApproval's input carries the task token, which must not reach a log. Turn on only for short debugging sessions."
  type        = bool
  default     = false
}

variable "alarm_ok_notifications" {
  description = "Also notify the alerts topic when an alarm returns to OK. Off by default: every deploy creates the 20 alarms in OK (or INSUFFICIENT_DATA -> OK), which would mail one \"OK\" per alarm."
  type        = bool
  default     = false
}

variable "execution_failure_alarm_threshold" {
  description = "ExecutionsFailed per 5 minutes that raise the alarm. Declined payments, out-of-stock and rejected orders end in Fail states too, so 1 would page on ordinary business outcomes; compensation failures alert on their own (the alerts topic)."
  type        = number
  default     = 5

  validation {
    condition     = var.execution_failure_alarm_threshold >= 1 && floor(var.execution_failure_alarm_threshold) == var.execution_failure_alarm_threshold
    error_message = "execution_failure_alarm_threshold must be a whole number >= 1."
  }
}

variable "function_error_alarm_threshold" {
  description = "Lambda Errors per function per 5 minutes that raise its alarm. Business errors (PaymentDeclined, OutOfStock, …) are Lambda errors for Step Functions to catch, so they count too."
  type        = number
  default     = 5

  validation {
    condition     = var.function_error_alarm_threshold >= 1 && floor(var.function_error_alarm_threshold) == var.function_error_alarm_threshold
    error_message = "function_error_alarm_threshold must be a whole number >= 1."
  }
}
