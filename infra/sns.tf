resource "aws_sns_topic" "this" {
  for_each = local.topics

  name         = "${var.name}-${each.key}"
  display_name = each.key == "approvals" ? "Order approvals" : null
  # A customer-managed key, not alias/aws/sns: CloudWatch alarms cannot publish
  # to a topic under the AWS-managed key (its policy cannot be changed to let
  # cloudwatch.amazonaws.com use it). See kms.tf.
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_sns_topic_subscription" "approver_email" {
  count = var.approver_email == null ? 0 : 1

  topic_arn = aws_sns_topic.this["approvals"].arn
  protocol  = "email"
  endpoint  = var.approver_email
}

resource "aws_sns_topic_subscription" "alerts_email" {
  count = var.alerts_email == null ? 0 : 1

  topic_arn = aws_sns_topic.this["alerts"].arn
  protocol  = "email"
  endpoint  = var.alerts_email
}
