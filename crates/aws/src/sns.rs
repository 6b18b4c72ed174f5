//! [`SnsNotifier`]: publishes messages to SNS topics.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use saga_core::ports::{Message, Notifier, StoreError, Topic};
use tracing::instrument;

use crate::config::{TopicArns, topic_env_var};
use crate::error::{ItemError, NotConfigured, classify};

/// SNS refuses subjects of 100 characters or more.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// SNS refuses messages over 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A subject SNS accepts: printable ASCII only (other characters become `?`,
/// line breaks, tabs and control characters a space), runs of spaces
/// collapsed, trimmed, and cut to [`MAX_SUBJECT_CHARS`] with a trailing `...`.
/// `None` when nothing printable is left (the subject is then omitted).
pub fn sns_subject(subject: &str) -> Option<String> {
    let mut out = String::with_capacity(subject.len().min(128));
    let mut pending_space = false;
    for c in subject.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else if c.is_ascii_graphic() {
            c
        } else {
            '?'
        };
        if c == ' ' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if out.is_empty() {
        return None;
    }
    if out.len() > MAX_SUBJECT_CHARS {
        out.truncate(MAX_SUBJECT_CHARS - 3);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push_str("...");
    }
    Some(out)
}

/// Publishes to the configured topics.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topics: TopicArns,
}

impl SnsNotifier {
    pub fn new(config: &aws_config::SdkConfig, topics: TopicArns) -> Self {
        Self::from_client(Client::new(config), topics)
    }

    pub fn from_client(client: Client, topics: TopicArns) -> Self {
        Self { client, topics }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    #[instrument(skip_all, fields(topic = topic.as_str()), err(Display))]
    async fn publish(&self, topic: Topic, message: &Message) -> Result<String, StoreError> {
        const OP: &str = "notifier.publish";
        let arn = self.topics.arn(topic).ok_or_else(|| {
            StoreError::permanent(
                OP,
                NotConfigured {
                    var: topic_env_var(topic),
                },
            )
        })?;
        if message.body.trim().is_empty() {
            return Err(StoreError::permanent(
                OP,
                ItemError::Inconsistent("SNS refuses an empty message".into()),
            ));
        }
        if message.body.len() > MAX_MESSAGE_BYTES {
            return Err(StoreError::permanent(
                OP,
                ItemError::Inconsistent(format!(
                    "the message is {} bytes; SNS accepts at most {MAX_MESSAGE_BYTES}",
                    message.body.len()
                )),
            ));
        }
        let out = self
            .client
            .publish()
            .topic_arn(arn)
            .set_subject(sns_subject(&message.subject))
            .message(&message.body)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let id = out.message_id.unwrap_or_default();
        tracing::info!(message_id = %id, "published");
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_line_breaks_control_and_non_ascii_characters() {
        assert_eq!(
            sns_subject("Approve order 01J\r\nfor 1 490,00 €\t!").as_deref(),
            Some("Approve order 01J for 1 490,00 ? !")
        );
        assert_eq!(sns_subject("  \u{7}\n ").as_deref(), None);
        assert_eq!(sns_subject("Ünïcode").as_deref(), Some("?n?code"));
    }

    #[test]
    fn long_subjects_are_cut_below_100_characters() {
        let s = sns_subject(&"word ".repeat(40)).unwrap();
        assert!(s.len() <= MAX_SUBJECT_CHARS, "{}", s.len());
        assert!(s.ends_with("..."), "{s}");
        assert!(!s.contains(" ..."), "{s}");
        let exact = "x".repeat(MAX_SUBJECT_CHARS);
        assert_eq!(sns_subject(&exact).as_deref(), Some(exact.as_str()));
        // Multi-byte input never splits a character: it is ASCII by then.
        assert!(sns_subject(&"é".repeat(300)).unwrap().is_ascii());
    }
}
