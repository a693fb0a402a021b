//! The `authorizers` table: one item per authorizer appid.
//!
//! Authorization events are applied in event order (`last_event_time`, from the push's
//! CreateTime): an older event never overwrites a newer one. Tokens carry `token_version`; the
//! sparse index `token_expiry` (`token_shard`, `access_token_expires_at`) holds only authorizers
//! with an access token.

use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use secrecy::{ExposeSecret, SecretString};

use super::attr::{from_item, get, n, s, Item};
use super::expr::{Update, TOKEN_VERSION};
use super::lease::LeaseTerms;
use super::table::Table;
use super::{lease, unix_now, StoreError};
use crate::authorizer::{Authorizer, AuthorizerInfo, AuthorizerStatus};

pub const PK: &str = "authorizer_appid";
pub const TOKEN_SHARDS: u32 = 16;

/// The index shard of an appid (stable, 0..16).
pub fn token_shard(appid: &str) -> i64 {
    (appid
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % TOKEN_SHARDS) as i64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    /// A newer authorization event is already applied; nothing changed.
    Stale,
}

from_item! { Authorizer {
    appid = PK, status, access_token, access_token_expires_at, refresh_token, permission_sets,
    service_type, verify_type, mini_program_info, authorized_at, unauthorized_at,
    last_event_time, ext_settings, last_commit, lease_until;
    default: token_version = TOKEN_VERSION, nick_name, head_img, user_name, principal_name,
    qrcode_url, test_account
} }

pub trait AuthorizerStore {
    fn authorizer(
        &self,
        appid: &str,
    ) -> impl Future<Output = Result<Option<Authorizer>, StoreError>> + Send;

    /// Writes a fresh authorization (status, tokens, permission sets) unless a newer event is in:
    /// one conditional write, made as soon as the code is exchanged. The details follow with
    /// [`AuthorizerStore::save_details`].
    fn save_authorization(
        &self,
        authorizer: &Authorizer,
    ) -> impl Future<Output = Result<EventOutcome, StoreError>> + Send;

    /// Marks the authorizer unauthorized at `event_time`: tokens removed, history kept.
    fn mark_unauthorized(
        &self,
        appid: &str,
        event_time: i64,
    ) -> impl Future<Output = Result<EventOutcome, StoreError>> + Send;

    /// Takes the token refresh lease and returns the item as it now is (one request); None when
    /// another owner holds an unexpired lease or the authorizer is unknown.
    fn lease_authorizer(
        &self,
        appid: &str,
        terms: LeaseTerms<'_>,
    ) -> impl Future<Output = Result<Option<Authorizer>, StoreError>> + Send;

    /// Writes refreshed tokens and frees the lease, only if `token_version` is still
    /// `expected_version`, the authorizer is still authorized, and nobody but `owner` holds a live
    /// lease on it (`owner` None: the scheduled path, which holds no item lease).
    fn save_tokens(
        &self,
        appid: &str,
        expected_version: i64,
        owner: Option<&str>,
        tokens: &RefreshedTokens,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes tokens WeChat answered with a rotated refresh token after [`Self::save_tokens`] was
    /// refused: only while the stored refresh token is still `sent` (the one WeChat was given, so
    /// the rotated one is newer) and the authorizer is authorized. Leaves any lease alone.
    fn save_rotated_tokens(
        &self,
        appid: &str,
        sent: &SecretString,
        tokens: &RefreshedTokens,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Frees the lease, recording why the refresh did not happen (if it failed).
    fn release_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The refresh token `refused` was refused (61023) and WeChat lists no other: status
    /// `reauthorization_required` with the time, only while `refused` is still the stored one (a
    /// newer token or a new authorization stands); the item and its history stay.
    fn mark_reauthorization_required(
        &self,
        appid: &str,
        refused: &SecretString,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Authorizers in `shard` whose access token expires before `until` (a Query on
    /// `token_expiry`, which carries the refresh token, version and lease).
    fn due_authorizers(
        &self,
        shard: i64,
        until: i64,
    ) -> impl Future<Output = Result<Vec<DueAuthorizer>, StoreError>> + Send;

    /// Records why a scheduled refresh failed (that path holds no item lease).
    fn record_refresh_error(
        &self,
        appid: &str,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every authorizer (reconcile mode only: a full scan).
    fn all_authorizers(&self) -> impl Future<Output = Result<Vec<Authorizer>, StoreError>> + Send;

    /// Takes the refresh token WeChat lists (`listed`) in place of the stored one, `expected`
    /// (None: none stored), for an authorizer authorized or marked `reauthorization_required`
    /// (which WeChat's list proves wrong: it becomes authorized again). Returns the new
    /// `token_version`, or None when the item changed (or was revoked) meanwhile.
    fn adopt_refresh_token(
        &self,
        appid: &str,
        expected: Option<&SecretString>,
        listed: &SecretString,
        at: i64,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Writes the account's details (api_get_authorizer_info) and, if given, its permission sets,
    /// while it is authorized. Tokens and event order are not touched.
    fn save_details(
        &self,
        appid: &str,
        info: &AuthorizerInfo,
        permission_sets: Option<&[i64]>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One page of authorizers by appid (admin listing); returns the page and the next cursor.
    fn authorizer_page(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = Result<(Vec<Authorizer>, Option<String>), StoreError>> + Send {
        self.authorizer_page_where(after, limit, &NO_FILTER)
    }

    /// One page of the authorizers `filter` keeps, in appid order. Reads at most
    /// [`FILTER_SCAN_PAGES`] pages of the table per call, so a page stays fast at 100k
    /// authorizers even when few match: it may then hold fewer than `limit`, with a cursor to go on.
    fn authorizer_page_where(
        &self,
        after: Option<&str>,
        limit: i32,
        filter: &AuthorizerFilter,
    ) -> impl Future<Output = Result<(Vec<Authorizer>, Option<String>), StoreError>> + Send;

    /// Sets an admin attribute (`ext_settings`, `last_commit`) to JSON text, if the authorizer exists.
    fn set_admin_attribute(
        &self,
        appid: &str,
        name: AdminAttribute,
        json: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Flags an authorizer WeChat no longer lists (reconcile); nothing is deleted.
    fn flag_not_listed(
        &self,
        appid: &str,
        at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Table pages one filtered listing reads at most (see [`AuthorizerStore::authorizer_page_where`]).
pub const FILTER_SCAN_PAGES: usize = 5;
/// Items each of those pages reads.
const FILTER_SCAN_LIMIT: i32 = 500;

static NO_FILTER: AuthorizerFilter = AuthorizerFilter {
    status: None,
    test_account: None,
    search: None,
};

/// What an admin listing keeps: a status, test accounts, and a search in the appid and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerFilter {
    pub status: Option<AuthorizerStatus>,
    pub test_account: Option<bool>,
    /// Part of the appid or of the nickname (case as written).
    pub search: Option<String>,
}

impl AuthorizerFilter {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The scan's filter expression, names and values; None when nothing is filtered.
    #[allow(clippy::type_complexity)]
    fn expression(
        &self,
    ) -> Option<(
        String,
        std::collections::HashMap<String, String>,
        std::collections::HashMap<String, AttributeValue>,
    )> {
        let mut terms = Vec::new();
        let mut names = std::collections::HashMap::new();
        let mut values = std::collections::HashMap::new();
        if let Some(status) = self.status {
            terms.push("#status = :status".to_owned());
            names.insert("#status".to_owned(), "status".to_owned());
            values.insert(":status".to_owned(), s(status.as_str()));
        }
        match self.test_account {
            Some(true) => {
                terms.push("#test = :yes".to_owned());
                names.insert("#test".to_owned(), "test_account".to_owned());
                values.insert(":yes".to_owned(), AttributeValue::Bool(true));
            }
            Some(false) => {
                terms.push("(attribute_not_exists(#test) OR #test = :no)".to_owned());
                names.insert("#test".to_owned(), "test_account".to_owned());
                values.insert(":no".to_owned(), AttributeValue::Bool(false));
            }
            None => {}
        }
        if let Some(search) = &self.search {
            terms.push("(contains(#appid, :q) OR contains(#nick, :q))".to_owned());
            names.insert("#appid".to_owned(), PK.to_owned());
            names.insert("#nick".to_owned(), "nick_name".to_owned());
            values.insert(":q".to_owned(), s(search));
        }
        (!terms.is_empty()).then(|| (terms.join(" AND "), names, values))
    }
}

/// Attributes the admin API writes on an authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAttribute {
    ExtSettings,
    LastCommit,
}

impl AdminAttribute {
    fn name(self) -> &'static str {
        match self {
            Self::ExtSettings => "ext_settings",
            Self::LastCommit => "last_commit",
        }
    }
}

/// One entry of the `token_expiry` index.
#[derive(Debug, Clone)]
pub struct DueAuthorizer {
    pub appid: String,
    pub access_token_expires_at: i64,
    pub refresh_token: Option<SecretString>,
    pub token_version: i64,
    pub lease_until: Option<i64>,
}

from_item! { DueAuthorizer {
    appid = PK, access_token_expires_at, refresh_token, lease_until;
    default: token_version = TOKEN_VERSION
} }

/// Tokens from api_authorizer_token.
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    pub access_token: SecretString,
    pub expires_at: i64,
    pub refresh_token: SecretString,
    pub refreshed_at: i64,
}

const INDEX: &str = "token_expiry";

/// The condition of every write but a new authorization's and an event's: the item exists.
const EXISTS: &str = "attribute_exists(#authorizer_appid)";

/// The condition of an authorization event (with the `last_event_time` it sets): no newer event
/// is applied.
const IN_EVENT_ORDER: &str =
    "attribute_not_exists(#authorizer_appid) OR #last_event_time <= :last_event_time";

#[derive(Debug, Clone)]
pub struct DynamoAuthorizerStore {
    table: Table,
}

impl DynamoAuthorizerStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    fn key(appid: &str) -> Item {
        Item::from([(PK.to_owned(), s(appid))])
    }

    /// Applies `update` to the authorizer; false when its condition did not hold.
    async fn update(&self, appid: &str, update: &Update) -> Result<bool, StoreError> {
        Ok(self.table.update(Self::key(appid), update).await?.is_some())
    }

    /// Applies `update` to the authorizer if it exists; false when it does not.
    async fn update_existing(&self, appid: &str, update: Update) -> Result<bool, StoreError> {
        self.update(appid, &update.condition(EXISTS)).await
    }

    /// An authorization event (see [`IN_EVENT_ORDER`]).
    async fn apply_event(&self, appid: &str, update: Update) -> Result<EventOutcome, StoreError> {
        let update = update.condition(IN_EVENT_ORDER);
        Ok(if self.update(appid, &update).await? {
            EventOutcome::Applied
        } else {
            EventOutcome::Stale
        })
    }
}

impl Update {
    /// The access token and its expiry, in the `token_expiry` index (`token_shard`).
    fn set_access_token(self, appid: &str, token: &SecretString, expires_at: i64) -> Self {
        self.set("access_token", s(token.expose_secret()))
            .set("access_token_expires_at", n(expires_at))
            .set("token_shard", n(token_shard(appid)))
    }

    /// No access token, and so out of the `token_expiry` index.
    fn remove_access_token(self) -> Self {
        self.remove_all(&["access_token", "access_token_expires_at", "token_shard"])
    }

    /// Tokens refreshed (a new version; the last refresh error forgotten). The index is left as it
    /// is.
    fn refreshed(self, tokens: &RefreshedTokens) -> Self {
        self.set("access_token", s(tokens.access_token.expose_secret()))
            .set("access_token_expires_at", n(tokens.expires_at))
            .set("refresh_token", s(tokens.refresh_token.expose_secret()))
            .set("refreshed_at", n(tokens.refreshed_at))
            .bump_version()
            .remove("last_refresh_error")
    }

    /// The condition placeholder `:authorized` (the status).
    fn authorized_value(self) -> Self {
        self.value(":authorized", s(AuthorizerStatus::Authorized.as_str()))
    }
}

fn optional_s(value: &str) -> Option<AttributeValue> {
    (!value.is_empty()).then(|| s(value))
}

/// `permission_sets` and the flag derived from it, written together.
fn permission_attributes(sets: &[i64]) -> [(&'static str, AttributeValue); 2] {
    [
        (
            "permission_sets",
            AttributeValue::L(sets.iter().map(|p| n(*p)).collect()),
        ),
        (
            "has_code_management",
            AttributeValue::Bool(sets.contains(&crate::authorizer::CODE_MANAGEMENT)),
        ),
    ]
}

/// The attributes of api_get_authorizer_info's details that it answered (empty ones left out, so
/// a sparse answer does not erase what is stored).
fn detail_attributes(info: &AuthorizerInfo) -> Vec<(&'static str, AttributeValue)> {
    let mut out: Vec<(&'static str, AttributeValue)> = [
        ("nick_name", &info.nick_name),
        ("head_img", &info.head_img),
        ("user_name", &info.user_name),
        ("principal_name", &info.principal_name),
        ("qrcode_url", &info.qrcode_url),
    ]
    .into_iter()
    .filter_map(|(name, value)| optional_s(value).map(|v| (name, v)))
    .collect();
    for (name, value) in [
        ("service_type", &info.service_type_info),
        ("verify_type", &info.verify_type_info),
    ] {
        if let Some(t) = value {
            out.push((name, n(t.id)));
        }
    }
    if let Some(mini_program) = &info.mini_program_info {
        out.push(("mini_program_info", s(mini_program.to_string())));
    }
    out
}

impl AuthorizerStore for DynamoAuthorizerStore {
    async fn authorizer(&self, appid: &str) -> Result<Option<Authorizer>, StoreError> {
        self.table.read(Self::key(appid)).await
    }

    async fn save_authorization(&self, a: &Authorizer) -> Result<EventOutcome, StoreError> {
        let mut update = Update::new()
            .set("status", s(a.status.as_str()))
            .set_all(permission_attributes(&a.permission_sets))
            .set("last_event_time", n(a.last_event_time))
            .set("updated_at", n(unix_now()))
            .bump_version()
            .remove_all(&["unauthorized_at", "reauthorization_required_at"]);
        if let Some(at) = a.authorized_at {
            update = update.set("authorized_at", n(at));
        }
        // Only on WeChat's go-live test accounts: a real authorizer's item has no such attribute.
        if a.test_account {
            update = update.set("test_account", AttributeValue::Bool(true));
        }
        update = match (&a.access_token, a.access_token_expires_at) {
            (Some(token), Some(expires_at)) => update.set_access_token(&a.appid, token, expires_at),
            _ => update.remove_access_token(),
        };
        let refresh_token = a.refresh_token.as_ref().map(|t| s(t.expose_secret()));
        let update = update.set_or_remove("refresh_token", refresh_token);
        self.apply_event(&a.appid, update).await
    }

    async fn mark_unauthorized(
        &self,
        appid: &str,
        event_time: i64,
    ) -> Result<EventOutcome, StoreError> {
        let update = Update::new()
            .set("status", s(AuthorizerStatus::Unauthorized.as_str()))
            .set("unauthorized_at", n(event_time))
            .set("last_event_time", n(event_time))
            .set("updated_at", n(unix_now()))
            .bump_version()
            .remove_access_token()
            .remove("refresh_token");
        self.apply_event(appid, update).await
    }

    async fn lease_authorizer(
        &self,
        appid: &str,
        terms: LeaseTerms<'_>,
    ) -> Result<Option<Authorizer>, StoreError> {
        let update = Update::new()
            .take_lease(terms)
            .condition(format!("{EXISTS} AND ({})", lease::FREE))
            .returning(ReturnValue::AllNew);
        let leased = self.table.update(Self::key(appid), &update).await?;
        leased.as_ref().map(Authorizer::try_from).transpose()
    }

    async fn save_tokens(
        &self,
        appid: &str,
        expected_version: i64,
        owner: Option<&str>,
        tokens: &RefreshedTokens,
    ) -> Result<bool, StoreError> {
        // Every change of status also moves token_version, so the version check covers it (and
        // makes the bump expected_version + 1).
        let update = Update::new()
            .refreshed(tokens)
            .value(":expected", n(expected_version));
        let update = match owner {
            // Under the item's lease: also (re)joins the expiry index and frees the lease.
            Some(owner) => update
                .set("token_shard", n(token_shard(appid)))
                .free_lease(owner)
                .condition(format!("#{TOKEN_VERSION} = :expected AND {}", lease::HELD)),
            // Scheduled: found in the index, so already in it; refused while anyone holds a lease.
            None => update.condition(format!(
                "#{TOKEN_VERSION} = :expected AND NOT #lease_until >= :refreshed_at"
            )),
        };
        self.update(appid, &update).await
    }

    async fn save_rotated_tokens(
        &self,
        appid: &str,
        sent: &SecretString,
        tokens: &RefreshedTokens,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .refreshed(tokens)
            .set("token_shard", n(token_shard(appid)))
            .condition("#status = :authorized AND #refresh_token = :sent")
            .authorized_value()
            .value(":sent", s(sent.expose_secret()));
        self.update(appid, &update).await
    }

    async fn record_refresh_error(&self, appid: &str, error: &str) -> Result<(), StoreError> {
        let update = Update::new().set("last_refresh_error", s(error));
        self.update_existing(appid, update).await.map(|_| ())
    }

    async fn release_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update = Update::new().free_lease(owner).condition(lease::HELD);
        if let Some(error) = error {
            update = update.set("last_refresh_error", s(error));
        }
        self.update(appid, &update).await.map(|_| ())
    }

    async fn mark_reauthorization_required(
        &self,
        appid: &str,
        refused: &SecretString,
        at: i64,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set(
                "status",
                s(AuthorizerStatus::ReauthorizationRequired.as_str()),
            )
            .set("reauthorization_required_at", n(at))
            .set("updated_at", n(at))
            .bump_version()
            .remove_access_token()
            .remove_all(&["lease_owner", "lease_until"])
            .condition("#status = :authorized AND #refresh_token = :refused")
            .authorized_value()
            .value(":refused", s(refused.expose_secret()));
        self.update(appid, &update).await
    }

    async fn due_authorizers(
        &self,
        shard: i64,
        until: i64,
    ) -> Result<Vec<DueAuthorizer>, StoreError> {
        let query = self
            .table
            .query()
            .index_name(INDEX)
            .key_condition_expression("token_shard = :shard AND access_token_expires_at < :until")
            .expression_attribute_values(":shard", n(shard))
            .expression_attribute_values(":until", n(until));
        let items = Table::query_all(query).await?;
        items.iter().map(DueAuthorizer::try_from).collect()
    }

    async fn all_authorizers(&self) -> Result<Vec<Authorizer>, StoreError> {
        let items = Table::scan_all(self.table.scan().consistent_read(true)).await?;
        items.iter().map(Authorizer::try_from).collect()
    }

    async fn adopt_refresh_token(
        &self,
        appid: &str,
        expected: Option<&SecretString>,
        listed: &SecretString,
        at: i64,
    ) -> Result<Option<i64>, StoreError> {
        let update = Update::new()
            .set("refresh_token", s(listed.expose_secret()))
            .set("refresh_token_restored_at", n(at))
            .set("updated_at", n(at))
            .set("status", s(AuthorizerStatus::Authorized.as_str()))
            .bump_version()
            .remove("reauthorization_required_at")
            .authorized_value()
            .value(
                ":reauth",
                s(AuthorizerStatus::ReauthorizationRequired.as_str()),
            )
            .returning(ReturnValue::UpdatedNew);
        let status = format!("{EXISTS} AND #status IN (:authorized, :reauth)");
        let update = match expected {
            Some(expected) => update
                .condition(format!("{status} AND #refresh_token = :expected"))
                .value(":expected", s(expected.expose_secret())),
            None => update.condition(format!("{status} AND attribute_not_exists(#refresh_token)")),
        };
        let updated = self.table.update(Self::key(appid), &update).await?;
        updated.map(|new| get(&new, TOKEN_VERSION)).transpose()
    }

    async fn save_details(
        &self,
        appid: &str,
        info: &AuthorizerInfo,
        permission_sets: Option<&[i64]>,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set_all(detail_attributes(info))
            .set_all(
                permission_sets
                    .map(permission_attributes)
                    .into_iter()
                    .flatten(),
            )
            .set("updated_at", n(unix_now()))
            .condition(format!("{EXISTS} AND #status = :authorized"))
            .authorized_value();
        self.update(appid, &update).await
    }

    async fn flag_not_listed(&self, appid: &str, at: i64) -> Result<(), StoreError> {
        let update = Update::new().set("not_listed_by_wechat_at", n(at));
        self.update_existing(appid, update).await.map(|_| ())
    }

    async fn authorizer_page_where(
        &self,
        after: Option<&str>,
        limit: i32,
        filter: &AuthorizerFilter,
    ) -> Result<(Vec<Authorizer>, Option<String>), StoreError> {
        let wanted = limit.max(1) as usize;
        let mut page: Vec<Authorizer> = Vec::new();
        let mut next = after.map(str::to_owned);
        for _ in 0..(if filter.is_empty() {
            1
        } else {
            FILTER_SCAN_PAGES
        }) {
            let mut scan = self
                .table
                .scan()
                .limit(if filter.is_empty() {
                    limit
                } else {
                    limit.max(FILTER_SCAN_LIMIT)
                })
                .set_exclusive_start_key(next.as_deref().map(Self::key));
            if let Some((expression, names, values)) = filter.expression() {
                scan = scan
                    .filter_expression(expression)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values));
            }
            let out = Table::scan_page(scan).await?;
            next = out.last_evaluated_key().map(|k| get(k, PK)).transpose()?;
            for item in out.items() {
                page.push(Authorizer::try_from(item)?);
                if page.len() == wanted {
                    // Cut inside the scanned page: the next call starts after the last one shown.
                    next = Some(page[wanted - 1].appid.clone());
                    return Ok((page, next));
                }
            }
            if next.is_none() {
                break;
            }
        }
        Ok((page, next))
    }

    async fn set_admin_attribute(
        &self,
        appid: &str,
        name: AdminAttribute,
        json: &str,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set(name.name(), s(json))
            .set("updated_at", n(unix_now()));
        self.update_existing(appid, update).await
    }
}
