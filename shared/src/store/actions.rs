//! The `actions` table: every state-changing admin call, per scope (a mini program's appid, or
//! `platform`), newest last by `at` (`<unix ms>#<random>`).
//!
//! A call is written as `started` with its validated parameters before anything is done (so a
//! call whose record cannot be written is not made), then completed once with its outcome
//! (`succeeded` / `failed`), conditionally on still being `started`. A call refused before it
//! started (invalid input) is written once as `refused`.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::attr::{n, s, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::StoreError;

/// Where a recorded call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// Recorded before anything was done; the outcome is not known (yet).
    Started,
    Succeeded,
    Failed,
    /// Refused before it started: nothing was done.
    Refused,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
}

/// One admin call as intended: who, what, on which mini program, with which validated fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The label of the admin token that made the call (never the token).
    pub label: String,
    /// e.g. `Commit`, `SubmitAudit`, `Release`.
    pub action: String,
    /// The mini program, or None for platform-wide actions (templates).
    pub appid: Option<String>,
    /// The validated request fields (never the raw body, never secrets).
    pub parameters: Value,
    pub at_ms: i64,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    /// Succeeded, Failed, or Refused.
    pub status: ActionStatus,
    /// `ok`, or the error code answered.
    pub result: String,
    pub http_status: u16,
    /// WeChat's errcode, when WeChat refused the call.
    pub errcode: Option<i64>,
    pub at_ms: i64,
}

/// The key of a recorded call, to complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionKey {
    pub scope: String,
    pub at: String,
}

pub trait ActionLog {
    /// Records `action` as started; the call must not be made unless this succeeds.
    fn start(&self, action: &Action) -> impl Future<Output = Result<ActionKey, StoreError>> + Send;

    /// Completes a started call with its outcome; false if it was not `started` any more.
    fn finish(
        &self,
        key: &ActionKey,
        outcome: &ActionOutcome,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a call refused before it started.
    fn refuse(
        &self,
        action: &Action,
        outcome: &ActionOutcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn actions(
        &self,
        scope: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;
}

#[derive(Debug, Clone)]
pub struct DynamoActionLog {
    table: Table,
}

impl DynamoActionLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// Puts a new item (never over another: `at` carries a random suffix, retried on a clash).
    async fn put_new(
        &self,
        a: &Action,
        outcome: Option<&ActionOutcome>,
    ) -> Result<ActionKey, StoreError> {
        const ATTEMPTS: u32 = 3;
        let scope = a.appid.clone().unwrap_or_else(|| "platform".to_owned());
        for _ in 0..ATTEMPTS {
            let suffix: u32 = rand::random();
            let key = ActionKey {
                scope: scope.clone(),
                at: format!("{:013}#{suffix:08x}", a.at_ms),
            };
            let mut item = Item::new();
            item.insert("scope".into(), s(&key.scope));
            item.insert("at".into(), s(&key.at));
            item.insert("label".into(), s(&a.label));
            item.insert("action".into(), s(&a.action));
            item.insert("parameters".into(), s(a.parameters.to_string()));
            item.insert("at_ms".into(), n(a.at_ms));
            match outcome {
                None => {
                    item.insert("status".into(), s(ActionStatus::Started.as_str()));
                }
                Some(outcome) => item.extend(
                    outcome_attributes(outcome)
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), value)),
                ),
            }
            if self
                .table
                .put(item, &Condition::absent("scope"))
                .await?
                .is_some()
            {
                return Ok(key);
            }
        }
        Err(StoreError::Contention {
            operation: "PutItem",
            attempts: ATTEMPTS,
        })
    }
}

fn outcome_attributes(outcome: &ActionOutcome) -> Vec<(&'static str, AttributeValue)> {
    let mut attributes = vec![
        ("status", s(outcome.status.as_str())),
        ("result", s(&outcome.result)),
        ("http_status", n(outcome.http_status as i64)),
        ("finished_at_ms", n(outcome.at_ms)),
    ];
    if let Some(errcode) = outcome.errcode {
        attributes.push(("errcode", n(errcode)));
    }
    attributes
}

impl ActionLog for DynamoActionLog {
    async fn start(&self, action: &Action) -> Result<ActionKey, StoreError> {
        self.put_new(action, None).await
    }

    async fn finish(&self, key: &ActionKey, outcome: &ActionOutcome) -> Result<bool, StoreError> {
        let key = Item::from([
            ("scope".to_owned(), s(&key.scope)),
            ("at".to_owned(), s(&key.at)),
        ]);
        let update = Update::new()
            .set_all(outcome_attributes(outcome))
            .condition("#status = :started")
            .value(":started", s(ActionStatus::Started.as_str()));
        Ok(self.table.update(key, &update).await?.is_some())
    }

    async fn refuse(&self, action: &Action, outcome: &ActionOutcome) -> Result<(), StoreError> {
        self.put_new(action, Some(outcome)).await.map(|_| ())
    }

    async fn actions(&self, scope: &str, limit: i32) -> Result<Vec<Value>, StoreError> {
        let query = self
            .table
            .query()
            .key_condition_expression("#scope = :scope")
            .expression_attribute_names("#scope", "scope")
            .expression_attribute_values(":scope", s(scope))
            .scan_index_forward(false)
            .limit(limit);
        let out = Table::query_page(query).await?;
        // Passed through leniently: an attribute missing or of another type shows as null.
        Ok(out
            .items()
            .iter()
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
                serde_json::json!({
                    "label": text("label"),
                    "action": text("action"),
                    "scope": text("scope"),
                    "parameters": text("parameters").and_then(|p| serde_json::from_str::<Value>(&p).ok()),
                    "status": text("status"),
                    "result": text("result"),
                    "http_status": number("http_status"),
                    "errcode": number("errcode"),
                    "at_ms": number("at_ms"),
                    "finished_at_ms": number("finished_at_ms"),
                })
            })
            .collect())
    }
}
