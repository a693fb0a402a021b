//! The platform's default user privacy guideline, in the tickets table (`record =
//! "privacy_default"`, one per component): what a mini program without a guideline of its own
//! is given with one call, or on commit when the operator asks for it.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::attr::{get, n, s, Item};
use super::expr::Update;
use super::tickets::DynamoTicketStore;
use super::StoreError;
use crate::wechat::privacy::{OwnerSetting, PrivacyItem};

const RECORD: &str = "privacy_default";

/// The default guideline: the developer's contact and a text per privacy key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyDefault {
    pub owner_setting: OwnerSetting,
    pub setting_list: Vec<PrivacyItem>,
    /// When it was last saved (Unix seconds); set by the store.
    #[serde(default)]
    pub updated_at: i64,
}

impl TryFrom<&Item> for PrivacyDefault {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let text: String = get(item, "guideline")?;
        let mut default: PrivacyDefault = serde_json::from_str(&text)
            .map_err(|e| StoreError::Malformed(format!("privacy_default.guideline: {e}")))?;
        default.updated_at = get(item, "updated_at")?;
        Ok(default)
    }
}

pub trait PrivacyDefaultStore {
    fn privacy_default(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Option<PrivacyDefault>, StoreError>> + Send;

    /// Replaces the default (the last save wins: it is one document an operator edits, and the
    /// action log keeps every version).
    fn save_privacy_default(
        &self,
        component_appid: &str,
        default: &PrivacyDefault,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl PrivacyDefaultStore for DynamoTicketStore {
    async fn privacy_default(
        &self,
        component_appid: &str,
    ) -> Result<Option<PrivacyDefault>, StoreError> {
        self.read_record(component_appid, RECORD).await
    }

    async fn save_privacy_default(
        &self,
        component_appid: &str,
        default: &PrivacyDefault,
        now: i64,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(default).expect("a guideline serializes");
        let update = Update::new()
            .set("guideline", s(text))
            .set("updated_at", n(now));
        self.update_record(component_appid, RECORD, &update)
            .await
            .map(|_| ())
    }
}
