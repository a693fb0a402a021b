//! The rollouts table (`pk`, `sk`; index `by_state` on `state_key`, `appid`):
//! - `pk = rollout#<id>, sk = meta`: the rollout (its spec as JSON, status, counts); its
//!   `state_key` is `rollouts#<status>` so the index lists rollouts by status;
//! - `pk = rollout#<id>, sk = target#<appid>`: one target; `state_key = <id>#<state>`, so the
//!   index pages a rollout's targets by state and counts them;
//! - `pk = appid#<appid>, sk = rollout_lock`: the rollout a mini program is in (one at a time).
//!
//! Every move of a target is conditional on the state it was read in: a redelivered message, or
//! two workers on the same target, move it once.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::attr::{get, get_or_default, n, s, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::StoreError;
use crate::rollout::{Rollout, RolloutSpec, RolloutStatus, Target, TargetState};

const META: &str = "meta";
const LOCK: &str = "rollout_lock";
/// The index of rollouts by status and of targets by state.
pub const BY_STATE: &str = "by_state";

super::attr::text_enum!(RolloutStatus, TargetState);

fn rollout_pk(id: &str) -> String {
    format!("rollout#{id}")
}

fn target_sk(appid: &str) -> String {
    format!("target#{appid}")
}

fn key(pk: String, sk: String) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn state_key(id: &str, state: TargetState) -> String {
    format!("{id}#{}", state.as_str())
}

fn status_key(status: RolloutStatus) -> String {
    format!("rollouts#{}", status.as_str())
}

fn opt_n(value: Option<i64>) -> Option<AttributeValue> {
    value.map(n)
}

fn opt_s(value: &Option<String>) -> Option<AttributeValue> {
    value.as_deref().map(s)
}

impl TryFrom<&Item> for Rollout {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let spec: String = get(item, "spec")?;
        let spec: RolloutSpec = serde_json::from_str(&spec)
            .map_err(|e| StoreError::Malformed(format!("rollout spec: {e}")))?;
        Ok(Self {
            id: get(item, "appid")?,
            spec,
            status: get(item, "status")?,
            target_count: get(item, "target_count")?,
            done_count: get_or_default(item, "done_count")?,
            withdraw_on_cancel: get_or_default(item, "withdraw_on_cancel")?,
            created_by: get_or_default(item, "created_by")?,
            created_at: get(item, "created_at")?,
            updated_at: get(item, "updated_at")?,
            finished_at: get(item, "finished_at")?,
            hold_errcode: get(item, "hold_errcode")?,
            held_until: get(item, "held_until")?,
        })
    }
}

impl TryFrom<&Item> for Target {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let pk: String = get(item, "pk")?;
        Ok(Self {
            rollout_id: pk.trim_start_matches("rollout#").to_owned(),
            appid: get(item, "appid")?,
            seq: get(item, "seq")?,
            state: get(item, "state")?,
            auditid: get(item, "auditid")?,
            errcode: get(item, "errcode")?,
            errmsg: get(item, "errmsg")?,
            reason: get(item, "reason")?,
            screenshot: get(item, "screenshot")?,
            gray_step: get(item, "gray_step")?,
            hold_until: get(item, "hold_until")?,
            updated_at: get(item, "updated_at")?,
        })
    }
}

fn target_item(target: &Target) -> Item {
    let mut item = key(rollout_pk(&target.rollout_id), target_sk(&target.appid));
    item.extend([
        ("appid".to_owned(), s(&target.appid)),
        ("seq".to_owned(), n(target.seq)),
        ("state".to_owned(), s(target.state.as_str())),
        (
            "state_key".to_owned(),
            s(state_key(&target.rollout_id, target.state)),
        ),
        ("updated_at".to_owned(), n(target.updated_at)),
    ]);
    item
}

/// What a target's move sets besides its state: the outcome of the step (cleared when `None`),
/// the audit, the gray step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetChange {
    pub auditid: Option<i64>,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    pub reason: Option<String>,
    pub screenshot: Option<String>,
    /// `(step, hold_until)` of a gray release; removed when `None`.
    pub gray: Option<(i64, i64)>,
}

/// Whether a mini program could be locked for a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    Taken,
    /// Another rollout holds it.
    HeldBy(String),
}

#[derive(Debug, Clone)]
pub struct DynamoRolloutStore {
    table: Table,
}

impl DynamoRolloutStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// Stores a new rollout (refused if the id exists).
    pub async fn create(&self, rollout: &Rollout) -> Result<bool, StoreError> {
        let spec = serde_json::to_string(&rollout.spec).expect("a spec serializes");
        let mut item = key(rollout_pk(&rollout.id), META.into());
        item.extend([
            ("appid".to_owned(), s(&rollout.id)),
            ("state_key".to_owned(), s(status_key(rollout.status))),
            ("spec".to_owned(), s(spec)),
            ("status".to_owned(), s(rollout.status.as_str())),
            ("target_count".to_owned(), n(rollout.target_count)),
            ("done_count".to_owned(), n(rollout.done_count)),
            ("created_by".to_owned(), s(&rollout.created_by)),
            ("created_at".to_owned(), n(rollout.created_at)),
            ("updated_at".to_owned(), n(rollout.updated_at)),
        ]);
        Ok(self
            .table
            .put(item, &Condition::absent("pk"))
            .await?
            .is_some())
    }

    /// Removes a rollout whose creation was refused (no target of it was stored).
    pub async fn delete_rollout(&self, id: &str) -> Result<(), StoreError> {
        let condition = Condition::new("attribute_exists(#pk)");
        self.table
            .delete(key(rollout_pk(id), META.into()), &condition)
            .await
            .map(|_| ())
    }

    pub async fn rollout(&self, id: &str) -> Result<Option<Rollout>, StoreError> {
        self.table.read(key(rollout_pk(id), META.into())).await
    }

    /// The rollouts of `status`, newest id last (ids sort by creation time).
    pub async fn rollouts_with_status(
        &self,
        status: RolloutStatus,
    ) -> Result<Vec<Rollout>, StoreError> {
        let query = self
            .table
            .query()
            .index_name(BY_STATE)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", "state_key")
            .expression_attribute_values(":k", s(status_key(status)));
        let items = Table::query_all(query).await?;
        items.iter().map(Rollout::try_from).collect()
    }

    /// Moves the rollout to `to` if it is in one of `from`; the rollout after the move.
    pub async fn set_status(
        &self,
        id: &str,
        from: &[RolloutStatus],
        to: RolloutStatus,
        now: i64,
    ) -> Result<Option<Rollout>, StoreError> {
        let mut update = Update::new()
            .set("status", s(to.as_str()))
            .set("state_key", s(status_key(to)))
            .set("updated_at", n(now));
        if to == RolloutStatus::Finished {
            update = update.set("finished_at", n(now));
        }
        if to == RolloutStatus::Running {
            update = update.remove_all(&["hold_errcode", "held_until"]);
        }
        let (condition, values) = one_of("status", from.iter().map(|f| f.as_str()));
        let update = values
            .into_iter()
            .fold(update.condition(condition), |u, (p, v)| u.value(&p, v))
            .returning(ReturnValue::AllNew);
        self.write_rollout(id, &update).await
    }

    /// Holds a running rollout for quota: WeChat's `errcode`, and no call before `until`.
    pub async fn hold(
        &self,
        id: &str,
        errcode: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<Option<Rollout>, StoreError> {
        let to = RolloutStatus::QuotaExhausted;
        let update = Update::new()
            .set("status", s(to.as_str()))
            .set("state_key", s(status_key(to)))
            .set("hold_errcode", n(errcode))
            .set_or_remove("held_until", until.map(n))
            .set("updated_at", n(now))
            .condition("#status = :running")
            .value(":running", s(RolloutStatus::Running.as_str()))
            .returning(ReturnValue::AllNew);
        self.write_rollout(id, &update).await
    }

    /// Marks a cancelled rollout whose targets have all ended: the sync leaves it alone.
    pub async fn close_cancelled(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let update = Update::new()
            .set("finished_at", n(now))
            .set("updated_at", n(now))
            .condition("#status = :cancelled")
            .value(":cancelled", s(RolloutStatus::Cancelled.as_str()));
        self.write_rollout(id, &update).await.map(|_| ())
    }

    /// Cancels the rollout unless it finished or was cancelled; `withdraw`: pending reviews are
    /// withdrawn (undocodeaudit) as its targets are cancelled.
    pub async fn cancel(
        &self,
        id: &str,
        withdraw: bool,
        now: i64,
    ) -> Result<Option<Rollout>, StoreError> {
        let to = RolloutStatus::Cancelled;
        let update = Update::new()
            .set("status", s(to.as_str()))
            .set("state_key", s(status_key(to)))
            .set("withdraw_on_cancel", AttributeValue::Bool(withdraw))
            .set("updated_at", n(now))
            .condition("attribute_exists(#pk) AND #status <> :cancelled AND #status <> :finished")
            .value(":cancelled", s(RolloutStatus::Cancelled.as_str()))
            .value(":finished", s(RolloutStatus::Finished.as_str()))
            .returning(ReturnValue::AllNew);
        self.write_rollout(id, &update).await
    }

    /// Adds `delta` to the targets that ended; the rollout after it.
    pub async fn add_done(&self, id: &str, delta: i64, now: i64) -> Result<Rollout, StoreError> {
        let update = Update::new()
            .increment("done_count", delta)
            .set("updated_at", n(now))
            .condition("attribute_exists(#pk)")
            .returning(ReturnValue::AllNew);
        self.write_rollout(id, &update)
            .await?
            .ok_or_else(|| StoreError::Malformed(format!("rollout {id} has no meta")))
    }

    async fn write_rollout(
        &self,
        id: &str,
        update: &Update,
    ) -> Result<Option<Rollout>, StoreError> {
        let written = self
            .table
            .update(key(rollout_pk(id), META.into()), update)
            .await?;
        written.as_ref().map(Rollout::try_from).transpose()
    }

    /// Stores new targets (25 to a request).
    pub async fn put_targets(&self, targets: &[Target]) -> Result<(), StoreError> {
        self.table
            .batch_put(targets.iter().map(target_item).collect())
            .await
    }

    pub async fn target(&self, id: &str, appid: &str) -> Result<Option<Target>, StoreError> {
        self.table.read(key(rollout_pk(id), target_sk(appid))).await
    }

    /// The rollout and one of its targets in one request.
    pub async fn rollout_and_target(
        &self,
        id: &str,
        appid: &str,
    ) -> Result<(Option<Rollout>, Option<Target>), StoreError> {
        let items = self
            .table
            .batch_get(vec![
                key(rollout_pk(id), META.into()),
                key(rollout_pk(id), target_sk(appid)),
            ])
            .await?;
        let (mut rollout, mut target) = (None, None);
        for item in &items {
            match item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(META) => rollout = Some(Rollout::try_from(item)?),
                Some(_) => target = Some(Target::try_from(item)?),
                None => {}
            }
        }
        Ok((rollout, target))
    }

    /// Moves the target to `to` if its state is one of `from`; the target after the move, None
    /// when it was not in one of them (someone moved it first).
    pub async fn move_target(
        &self,
        id: &str,
        appid: &str,
        from: &[TargetState],
        to: TargetState,
        change: &TargetChange,
        now: i64,
    ) -> Result<Option<Target>, StoreError> {
        let mut update = Update::new()
            .set("state", s(to.as_str()))
            .set("state_key", s(state_key(id, to)))
            .set("updated_at", n(now))
            .set_or_remove("errcode", opt_n(change.errcode))
            .set_or_remove("errmsg", opt_s(&change.errmsg))
            .set_or_remove("reason", opt_s(&change.reason))
            .set_or_remove("screenshot", opt_s(&change.screenshot));
        if let Some(auditid) = change.auditid {
            update = update.set("auditid", n(auditid));
        }
        update = match change.gray {
            Some((step, hold_until)) => update
                .set("gray_step", n(step))
                .set("hold_until", n(hold_until)),
            None => update.remove_all(&["gray_step", "hold_until"]),
        };
        let (condition, values) = one_of("state", from.iter().map(|f| f.as_str()));
        let update = values
            .into_iter()
            .fold(update.condition(condition), |u, (p, v)| u.value(&p, v))
            .returning(ReturnValue::AllNew);
        let written = self
            .table
            .update(key(rollout_pk(id), target_sk(appid)), &update)
            .await?;
        written.as_ref().map(Target::try_from).transpose()
    }

    /// One page of the rollout's targets in `state`, by appid, after `start_after`.
    pub async fn targets_in_state(
        &self,
        id: &str,
        state: TargetState,
        limit: i32,
        start_after: Option<&str>,
    ) -> Result<(Vec<Target>, Option<String>), StoreError> {
        let mut query = self.by_state_query(id, state).limit(limit);
        if let Some(after) = start_after {
            let mut start = key(rollout_pk(id), target_sk(after));
            start.insert("state_key".into(), s(state_key(id, state)));
            start.insert("appid".into(), s(after));
            query = query.set_exclusive_start_key(Some(start));
        }
        let page = Table::query_page(query).await?;
        let targets = page
            .items()
            .iter()
            .map(Target::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = page
            .last_evaluated_key()
            .and_then(|k| k.get("appid"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok((targets, next))
    }

    /// Every target of the rollout in `state`.
    pub async fn all_targets_in_state(
        &self,
        id: &str,
        state: TargetState,
    ) -> Result<Vec<Target>, StoreError> {
        let items = Table::query_all(self.by_state_query(id, state)).await?;
        items.iter().map(Target::try_from).collect()
    }

    pub async fn count_in_state(&self, id: &str, state: TargetState) -> Result<i64, StoreError> {
        self.table.count(self.by_state_query(id, state)).await
    }

    fn by_state_query(
        &self,
        id: &str,
        state: TargetState,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.table
            .query()
            .index_name(BY_STATE)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", "state_key")
            .expression_attribute_values(":k", s(state_key(id, state)))
    }

    /// Locks `appid` for rollout `id` (again, if it holds it already).
    pub async fn lock(&self, appid: &str, id: &str, now: i64) -> Result<Lock, StoreError> {
        let mut item = key(format!("appid#{appid}"), LOCK.into());
        item.extend([("rollout_id".to_owned(), s(id)), ("at".to_owned(), n(now))]);
        let condition =
            Condition::new("attribute_not_exists(#pk) OR #rollout_id = :id").value(":id", s(id));
        if self.table.put(item, &condition).await?.is_some() {
            return Ok(Lock::Taken);
        }
        Ok(match self.lock_holder(appid).await? {
            Some(holder) => Lock::HeldBy(holder),
            // Released meanwhile: try once more.
            None => Box::pin(self.lock(appid, id, now)).await?,
        })
    }

    /// Moves `appid`'s lock from `stale` (a rollout that ended) to `id`.
    pub async fn take_over_lock(
        &self,
        appid: &str,
        stale: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut item = key(format!("appid#{appid}"), LOCK.into());
        item.extend([("rollout_id".to_owned(), s(id)), ("at".to_owned(), n(now))]);
        let condition = Condition::new("#rollout_id = :stale").value(":stale", s(stale));
        Ok(self.table.put(item, &condition).await?.is_some())
    }

    /// Frees `appid` if rollout `id` holds it.
    pub async fn unlock(&self, appid: &str, id: &str) -> Result<(), StoreError> {
        let condition = Condition::new("#rollout_id = :id").value(":id", s(id));
        self.table
            .delete(key(format!("appid#{appid}"), LOCK.into()), &condition)
            .await
            .map(|_| ())
    }

    /// The rollout `appid` is in, if any.
    pub async fn lock_holder(&self, appid: &str) -> Result<Option<String>, StoreError> {
        let item = self
            .table
            .get(key(format!("appid#{appid}"), LOCK.into()))
            .await?;
        item.as_ref().map(|i| get(i, "rollout_id")).transpose()
    }
}

/// `#<attribute> IN (:<attribute>_0, …)` and its values.
fn one_of<'a>(
    attribute: &str,
    values: impl Iterator<Item = &'a str>,
) -> (String, Vec<(String, AttributeValue)>) {
    let values: Vec<(String, AttributeValue)> = values
        .enumerate()
        .map(|(i, v)| (format!(":{attribute}_{i}"), s(v)))
        .collect();
    let placeholders: Vec<&str> = values.iter().map(|(p, _)| p.as_str()).collect();
    (
        format!("#{attribute} IN ({})", placeholders.join(", ")),
        values,
    )
}
