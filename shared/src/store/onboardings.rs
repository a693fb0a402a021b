//! Onboardings (a new mini program named, categorized and filed), in the onboardings table:
//! per onboarding (`pk = "onboarding#<id>"`) its document (`sk = "meta"`: the profile, each
//! step's state and what was done at WeChat, as JSON) with a `version` every write is conditional
//! on, and the pushes received for it (`sk = "push#…"`, kept apart so that a push never races a
//! step's write; folded into the document and deleted by the next step); per mini program
//! (`pk = "appid#<appid>"`, `sk = "onboarding"`) the onboarding running for it, so that a second
//! one is refused.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::attr::{n, s, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::StoreError;

const META: &str = "meta";
const LOCK: &str = "onboarding";
const PUSH_PREFIX: &str = "push#";

/// What creating answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Stored,
    /// Another onboarding of the mini program has not ended.
    Running {
        id: String,
    },
}

/// A stored onboarding document and its version.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub doc: String,
    pub version: i64,
}

/// A document to write: its onboarding, mini program, state (and whether it ended) and JSON.
#[derive(Debug, Clone, Copy)]
pub struct DocWrite<'a> {
    pub id: &'a str,
    pub appid: &'a str,
    pub state: &'a str,
    pub ended: bool,
    pub doc: &'a str,
}

/// A push stored for an onboarding: its sort key (to delete it once folded in) and its JSON.
#[derive(Debug, Clone)]
pub struct StoredPush {
    pub sk: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct DynamoOnboardingStore {
    table: Table,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn meta_key(id: &str) -> Item {
    key(format!("onboarding#{id}"), META)
}

fn lock_key(appid: &str) -> Item {
    key(format!("appid#{appid}"), LOCK)
}

fn text(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Malformed(format!(
            "onboarding item lacks {name}"
        ))),
    }
}

impl DynamoOnboardingStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// The onboarding running for `appid`, if any.
    pub async fn running_for(&self, appid: &str) -> Result<Option<String>, StoreError> {
        let Some(lock) = self.table.get(lock_key(appid)).await? else {
            return Ok(None);
        };
        let open = matches!(lock.get("open"), Some(AttributeValue::Bool(true)));
        open.then(|| text(&lock, "onboarding_id")).transpose()
    }

    /// The newest onboarding of `appid` (running or ended).
    pub async fn newest_for(&self, appid: &str) -> Result<Option<String>, StoreError> {
        Ok(match self.table.get(lock_key(appid)).await? {
            Some(lock) => Some(text(&lock, "onboarding_id")?),
            None => None,
        })
    }

    /// Stores a new onboarding (version 1) unless another one of `appid` runs: the mini
    /// program's lock first (taken only when free, or held by an onboarding that was never
    /// stored), then the document.
    pub async fn create(
        &self,
        id: &str,
        appid: &str,
        state: &str,
        doc: &str,
        now: i64,
    ) -> Result<Created, StoreError> {
        let mut lock = lock_key(appid);
        lock.insert("onboarding_id".into(), s(id));
        lock.insert("open".into(), AttributeValue::Bool(true));
        lock.insert("at".into(), n(now));
        let free = Condition::new("attribute_not_exists(#pk) OR #open = :closed")
            .value(":closed", AttributeValue::Bool(false));
        if self.table.put(lock.clone(), &free).await?.is_none() {
            let holder = self.running_for(appid).await?;
            match holder {
                Some(holder) if self.table.get(meta_key(&holder)).await?.is_some() => {
                    return Ok(Created::Running { id: holder });
                }
                // A lock whose onboarding was never stored (a crash between the two writes):
                // taken over, conditional on naming that one still.
                Some(holder) => {
                    let stale =
                        Condition::new("#onboarding_id = :holder").value(":holder", s(&holder));
                    if self.table.put(lock, &stale).await?.is_none() {
                        return Err(StoreError::Contention {
                            operation: "create_onboarding",
                            attempts: 2,
                        });
                    }
                }
                None => {
                    if self.table.put(lock, &free).await?.is_none() {
                        return Err(StoreError::Contention {
                            operation: "create_onboarding",
                            attempts: 2,
                        });
                    }
                }
            }
        }
        let mut item = meta_key(id);
        item.insert("id".into(), s(id));
        item.insert("appid".into(), s(appid));
        item.insert("state".into(), s(state));
        item.insert("doc".into(), s(doc));
        item.insert("version".into(), n(1));
        item.insert("created_at".into(), n(now));
        if self
            .table
            .put(item, &Condition::absent("pk"))
            .await?
            .is_none()
        {
            return Err(StoreError::Contention {
                operation: "create_onboarding",
                attempts: 1,
            });
        }
        Ok(Created::Stored)
    }

    /// The document and the pushes not yet folded into it (one strongly consistent query).
    pub async fn read(&self, id: &str) -> Result<Option<(StoredDoc, Vec<StoredPush>)>, StoreError> {
        let query = self
            .table
            .query()
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":pk", s(format!("onboarding#{id}")))
            .consistent_read(true);
        let items = Table::query_all(query).await?;
        let mut doc = None;
        let mut pushes = Vec::new();
        for item in &items {
            let sk = text(item, "sk")?;
            if sk == META {
                let version = match item.get("version") {
                    Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
                    _ => 0,
                };
                doc = Some(StoredDoc {
                    doc: text(item, "doc")?,
                    version,
                });
            } else if sk.starts_with(PUSH_PREFIX) {
                pushes.push(StoredPush {
                    sk,
                    body: text(item, "body")?,
                });
            }
        }
        Ok(doc.map(|d| (d, pushes)))
    }

    /// Writes the document if it is still at `read_version` (then at `read_version + 1`); false
    /// when someone else wrote first. An ended onboarding frees its mini program.
    pub async fn save(
        &self,
        write: &DocWrite<'_>,
        read_version: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let DocWrite {
            id,
            appid,
            state,
            ended,
            doc,
        } = *write;
        let update = Update::new()
            .set("doc", s(doc))
            .set("state", s(state))
            .set("updated_at", n(now))
            .set("version", n(read_version + 1))
            .condition("#version = :read")
            .value(":read", n(read_version));
        if self.table.update(meta_key(id), &update).await?.is_none() {
            return Ok(false);
        }
        if ended {
            let release = Update::new()
                .set("open", AttributeValue::Bool(false))
                .set("at", n(now))
                .condition("#onboarding_id = :id")
                .value(":id", s(id));
            self.table.update(lock_key(appid), &release).await?;
        }
        Ok(true)
    }

    /// Stores a push for the onboarding running for `appid`; false when none runs.
    pub async fn add_push(
        &self,
        appid: &str,
        push_key: &str,
        body: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(id) = self.running_for(appid).await? else {
            return Ok(false);
        };
        let mut item = key(
            format!("onboarding#{id}"),
            &format!("{PUSH_PREFIX}{push_key}"),
        );
        item.insert("body".into(), s(body));
        item.insert("at".into(), n(now));
        // The same push again (WeChat's retry) is refused by the condition: stored once.
        self.table.put(item, &Condition::absent("sk")).await?;
        Ok(true)
    }

    /// Deletes pushes folded into the document.
    pub async fn delete_pushes(&self, id: &str, sks: &[String]) -> Result<(), StoreError> {
        for sk in sks {
            self.table
                .delete(
                    key(format!("onboarding#{id}"), sk),
                    &Condition::new("attribute_exists(#pk)"),
                )
                .await?;
        }
        Ok(())
    }

    /// Every onboarding document with its version (a scan: onboardings are few, one per new
    /// mini program; the schedule and the list read them all).
    pub async fn all(&self) -> Result<Vec<(String, StoredDoc)>, StoreError> {
        let scan = self
            .table
            .scan()
            .filter_expression("#sk = :meta")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":meta", s(META));
        let items = Table::scan_all(scan).await?;
        items
            .iter()
            .map(|item| {
                let version = match item.get("version") {
                    Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
                    _ => 0,
                };
                Ok((
                    text(item, "id")?,
                    StoredDoc {
                        doc: text(item, "doc")?,
                        version,
                    },
                ))
            })
            .collect()
    }
}
