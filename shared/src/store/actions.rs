//! The `actions` table: every state-changing admin call, per scope (a mini program's appid, or
//! `platform`), newest last by `at` (`<unix ms>#<random>`).

use std::future::Future;

use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::attr::{n, s, Item};
use super::StoreError;

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The label of the admin token that made the call (never the token).
    pub label: String,
    /// e.g. `commit`, `submit_audit`, `release`.
    pub action: String,
    /// The mini program, or None for platform-wide actions (templates).
    pub appid: Option<String>,
    /// The request's parameters (no secrets).
    pub parameters: Value,
    /// `ok`, or the error code.
    pub result: String,
    pub http_status: u16,
    pub at_ms: i64,
}

pub trait ActionLog {
    fn record_action(&self, action: &Action)
        -> impl Future<Output = Result<(), StoreError>> + Send;

    fn actions(
        &self,
        scope: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;
}

#[derive(Debug, Clone)]
pub struct DynamoActionLog {
    client: Client,
    table: String,
}

impl DynamoActionLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl ActionLog for DynamoActionLog {
    async fn record_action(&self, a: &Action) -> Result<(), StoreError> {
        let suffix: u32 = rand::random();
        let mut item = Item::new();
        item.insert("scope".into(), s(a.appid.as_deref().unwrap_or("platform")));
        item.insert("at".into(), s(format!("{:013}#{suffix:08x}", a.at_ms)));
        item.insert("label".into(), s(&a.label));
        item.insert("action".into(), s(&a.action));
        item.insert("parameters".into(), s(a.parameters.to_string()));
        item.insert("result".into(), s(&a.result));
        item.insert("http_status".into(), n(a.http_status as i64));
        item.insert("at_ms".into(), n(a.at_ms));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::backend("PutItem", e))?;
        Ok(())
    }

    async fn actions(&self, scope: &str, limit: i32) -> Result<Vec<Value>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#scope = :scope")
            .expression_attribute_names("#scope", "scope")
            .expression_attribute_values(":scope", s(scope))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::backend("Query", e))?;
        Ok(out
            .items()
            .iter()
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
                serde_json::json!({
                    "label": text("label"),
                    "action": text("action"),
                    "scope": text("scope"),
                    "parameters": serde_json::from_str::<Value>(&text("parameters")).unwrap_or(Value::Null),
                    "result": text("result"),
                    "http_status": number("http_status"),
                    "at_ms": number("at_ms"),
                })
            })
            .collect())
    }
}
