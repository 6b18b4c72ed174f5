//! SNS: messages reach subscribers as published; an unconfigured topic is a
//! permanent error naming its variable.

use std::time::Duration;

use saga_aws::{SnsNotifier, TopicArns};
use saga_core::ports::{Message, Notifier, StoreError, Topic, error_chain};

use crate::support::Moto;

#[tokio::test]
async fn a_message_reaches_a_raw_subscriber_as_published_with_a_clean_subject() {
    let moto = Moto::connect().await;
    let topic = moto.topic("approvals").await;
    let raw = moto.subscribed_queue(&topic, true).await;
    let enveloped = moto.subscribed_queue(&topic, false).await;
    let notifier =
        SnsNotifier::from_client(moto.sns(), TopicArns::new().with(Topic::Approvals, &topic));
    let message = Message {
        subject: "Approve order 01J…\nfor 1 490,00 €".into(),
        body:
            "Order 01J needs approval.\nApprove: https://example.com/approvals/x?decision=approve\n"
                .into(),
    };

    let id = notifier.publish(Topic::Approvals, &message).await.unwrap();

    assert!(!id.is_empty());
    assert_eq!(
        raw.receive(1, Duration::from_secs(10)).await,
        vec![message.body.clone()]
    );
    let envelope: serde_json::Value =
        serde_json::from_str(&enveloped.receive(1, Duration::from_secs(10)).await[0]).unwrap();
    assert_eq!(envelope["Message"], message.body.as_str());
    assert_eq!(envelope["Subject"], "Approve order 01J? for 1 490,00 ?");
    assert_eq!(envelope["MessageId"], id.as_str());
    let calls = moto.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].action, "sns:Publish");
    assert_eq!(calls[0].resource.as_deref(), Some(topic.as_str()));
}

#[tokio::test]
async fn publishing_to_an_unconfigured_topic_names_the_variable() {
    let moto = Moto::connect().await;
    let topic = moto.topic("approvals").await;
    let notifier =
        SnsNotifier::from_client(moto.sns(), TopicArns::new().with(Topic::Approvals, &topic));

    let err = notifier
        .publish(
            Topic::Alerts,
            &Message {
                subject: "s".into(),
                body: "b".into(),
            },
        )
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::Permanent { .. }));
    assert_eq!(
        error_chain(&err),
        "notifier.publish failed: not configured: set ALERTS_TOPIC_ARN"
    );
    assert!(moto.calls().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_a_permanent_error() {
    let moto = Moto::connect().await;
    let notifier = SnsNotifier::from_client(
        moto.sns(),
        TopicArns::new().with(
            Topic::Approvals,
            "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        ),
    );

    let err = notifier
        .publish(
            Topic::Approvals,
            &Message {
                subject: "s".into(),
                body: "b".into(),
            },
        )
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            StoreError::Permanent {
                operation: "notifier.publish",
                ..
            }
        ),
        "{err:?}"
    );
}
