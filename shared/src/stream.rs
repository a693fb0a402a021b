//! The DynamoDB Streams event a Lambda event source mapping sends, and the partial batch answer
//! (AWS: "Using AWS Lambda with Amazon DynamoDB", "Configuring partial batch response with
//! DynamoDB and Lambda"): only what the publisher reads, typed. devstack's local stream source
//! builds the same event.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// What changed an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventName")]
    pub event_name: ChangeKind,
    #[serde(rename = "eventSource", default)]
    pub event_source: String,
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: String,
    #[serde(rename = "awsRegion", default)]
    pub aws_region: String,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamChange {
    /// The item's key, in DynamoDB's JSON (`{"id": {"S": "evt_…"}}`).
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, serde_json::Value>,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "SizeBytes", default)]
    pub size_bytes: i64,
    #[serde(rename = "StreamViewType", default)]
    pub stream_view_type: String,
}

impl StreamRecord {
    /// The string key attribute `name`, if the record's key has one.
    pub fn string_key(&self, name: &str) -> Option<&str> {
        self.dynamodb.keys.get(name)?.get("S")?.as_str()
    }
}

/// The answer: the records that failed, by sequence number. Lambda retries the shard from the
/// lowest of them; none is a complete success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamBatchResponse {
    #[serde(rename = "batchItemFailures", default)]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}
