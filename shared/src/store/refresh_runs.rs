//! The last token-refresh run, in the tickets table (`record = "refresh_run"`, one per
//! component): what the platform-health route shows an operator without reading the logs.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::attr::{get, n, s, Item};
use super::expr::Update;
use super::tickets::DynamoTicketStore;
use super::StoreError;

const RECORD: &str = "refresh_run";

/// One run: its summary as JSON (counts and reasons only; never an error's text, which goes to
/// the logs) and when it finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRun {
    pub finished_at: i64,
    pub summary: serde_json::Value,
}

impl TryFrom<&Item> for RefreshRun {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let text: String = get(item, "summary")?;
        let summary = serde_json::from_str(&text)
            .map_err(|e| StoreError::Malformed(format!("refresh_run.summary: {e}")))?;
        Ok(Self {
            finished_at: get(item, "finished_at")?,
            summary,
        })
    }
}

pub trait RefreshRunStore {
    fn last_refresh_run(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Option<RefreshRun>, StoreError>> + Send;

    /// Replaces the last run (runs are minutes apart and each is complete in itself).
    fn save_refresh_run(
        &self,
        component_appid: &str,
        run: &RefreshRun,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl RefreshRunStore for DynamoTicketStore {
    async fn last_refresh_run(
        &self,
        component_appid: &str,
    ) -> Result<Option<RefreshRun>, StoreError> {
        self.read_record(component_appid, RECORD).await
    }

    async fn save_refresh_run(
        &self,
        component_appid: &str,
        run: &RefreshRun,
    ) -> Result<(), StoreError> {
        let update = Update::new()
            .set("summary", s(run.summary.to_string()))
            .set("finished_at", n(run.finished_at));
        self.update_record(component_appid, RECORD, &update)
            .await
            .map(|_| ())
    }
}
