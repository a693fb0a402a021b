//! The `authorizers` table: one item per authorizer appid.
//!
//! Authorization events are applied in event order (`last_event_time`, from the push's
//! CreateTime): an older event never overwrites a newer one. Tokens carry `token_version`; the
//! sparse index `token_expiry` (`token_shard`, `access_token_expires_at`) holds only authorizers
//! with an access token.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use secrecy::{ExposeSecret, SecretString};

use super::attr::{from_item, get, n, s, Item};
use super::{conditional, is_condition_failure, StoreError};
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
    last_event_time, ext_settings, last_commit;
    default: token_version, nick_name, head_img, user_name, principal_name,
    qrcode_url
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
        owner: &str,
        now: i64,
        until: i64,
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
    default: token_version
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

#[derive(Debug, Clone)]
pub struct DynamoAuthorizerStore {
    client: Client,
    table: String,
}

impl DynamoAuthorizerStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(appid: &str) -> Item {
        Item::from([(PK.to_owned(), s(appid))])
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

impl DynamoAuthorizerStore {
    async fn update_ignoring_condition(
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        conditional(request.send().await, "UpdateItem")
    }

    fn update(
        &self,
        appid: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(appid)))
    }
}

impl AuthorizerStore for DynamoAuthorizerStore {
    async fn authorizer(&self, appid: &str) -> Result<Option<Authorizer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(appid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", e))?;
        out.item.as_ref().map(Authorizer::try_from).transpose()
    }

    async fn save_authorization(&self, a: &Authorizer) -> Result<EventOutcome, StoreError> {
        let mut sets: Vec<String> = Vec::new();
        let mut removes: Vec<&str> = vec!["unauthorized_at", "reauthorization_required_at"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&a.appid)));
        let mut set = |name: &str, value: AttributeValue, request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
            sets.push(format!("#{name} = :{name}"));
            request.expression_attribute_names(format!("#{name}"), name).expression_attribute_values(format!(":{name}"), value)
        };
        request = set("status", s(a.status.as_str()), request);
        for (name, value) in permission_attributes(&a.permission_sets) {
            request = set(name, value, request);
        }
        request = set("last_event_time", n(a.last_event_time), request);
        request = set("updated_at", n(super::unix_now()), request);
        if let Some(at) = a.authorized_at {
            request = set("authorized_at", n(at), request);
        }
        match (&a.access_token, a.access_token_expires_at) {
            (Some(token), Some(expires_at)) => {
                request = set("access_token", s(token.expose_secret()), request);
                request = set("access_token_expires_at", n(expires_at), request);
                request = set("token_shard", n(token_shard(&a.appid)), request);
            }
            _ => removes.extend(["access_token", "access_token_expires_at", "token_shard"]),
        }
        match &a.refresh_token {
            Some(token) => request = set("refresh_token", s(token.expose_secret()), request),
            None => removes.push("refresh_token"),
        }
        let expression = format!(
            "SET {}, token_version = if_not_exists(token_version, :zero) + :one REMOVE {}",
            sets.join(", "),
            removes.join(", ")
        );
        let result = request
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(#pk) OR #last_event_time <= :last_event_time",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        Ok(if conditional(result, "UpdateItem")? {
            EventOutcome::Applied
        } else {
            EventOutcome::Stale
        })
    }

    async fn mark_unauthorized(
        &self,
        appid: &str,
        event_time: i64,
    ) -> Result<EventOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(appid)))
            .update_expression(
                "SET #status = :status, unauthorized_at = :t, last_event_time = :t, updated_at = :now, \
                 token_version = if_not_exists(token_version, :zero) + :one \
                 REMOVE access_token, access_token_expires_at, token_shard, refresh_token",
            )
            .condition_expression("attribute_not_exists(#pk) OR last_event_time <= :t")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(AuthorizerStatus::Unauthorized.as_str()))
            .expression_attribute_values(":t", n(event_time))
            .expression_attribute_values(":now", n(super::unix_now()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        Ok(if conditional(result, "UpdateItem")? {
            EventOutcome::Applied
        } else {
            EventOutcome::Stale
        })
    }

    async fn lease_authorizer(
        &self,
        appid: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Authorizer>, StoreError> {
        let result = self
            .update(appid)
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .map(Authorizer::try_from)
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::backend("UpdateItem", e)),
        }
    }

    async fn save_tokens(
        &self,
        appid: &str,
        expected_version: i64,
        owner: Option<&str>,
        tokens: &RefreshedTokens,
    ) -> Result<bool, StoreError> {
        // Every change of status also moves token_version, so the version check covers it.
        let request = match owner {
            // Under the item's lease: also (re)joins the expiry index and frees the lease.
            Some(owner) => self
                .update(appid)
                .update_expression(
                    "SET access_token = :access, access_token_expires_at = :expires, refresh_token = :refresh, \
                     token_version = :next, refreshed_at = :at, token_shard = :shard \
                     REMOVE lease_owner, lease_until, last_refresh_error",
                )
                .condition_expression("token_version = :expected AND lease_owner = :owner")
                .expression_attribute_values(":shard", n(token_shard(appid)))
                .expression_attribute_values(":owner", s(owner)),
            // Scheduled: found in the index, so already in it; refused while anyone holds a lease.
            None => self
                .update(appid)
                .update_expression(
                    "SET access_token = :access, access_token_expires_at = :expires, refresh_token = :refresh, \
                     token_version = :next, refreshed_at = :at REMOVE last_refresh_error",
                )
                .condition_expression("token_version = :expected AND NOT lease_until >= :at"),
        };
        let request = request
            .expression_attribute_values(":access", s(tokens.access_token.expose_secret()))
            .expression_attribute_values(":expires", n(tokens.expires_at))
            .expression_attribute_values(":refresh", s(tokens.refresh_token.expose_secret()))
            .expression_attribute_values(":next", n(expected_version + 1))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":at", n(tokens.refreshed_at));
        Self::update_ignoring_condition(request).await
    }

    async fn save_rotated_tokens(
        &self,
        appid: &str,
        sent: &SecretString,
        tokens: &RefreshedTokens,
    ) -> Result<bool, StoreError> {
        let request = self
            .update(appid)
            .update_expression(
                "SET access_token = :access, access_token_expires_at = :expires, refresh_token = :refresh, \
                 token_version = if_not_exists(token_version, :zero) + :one, refreshed_at = :at, \
                 token_shard = :shard REMOVE last_refresh_error",
            )
            .condition_expression("#status = :authorized AND refresh_token = :sent")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(":sent", s(sent.expose_secret()))
            .expression_attribute_values(":access", s(tokens.access_token.expose_secret()))
            .expression_attribute_values(":expires", n(tokens.expires_at))
            .expression_attribute_values(":refresh", s(tokens.refresh_token.expose_secret()))
            .expression_attribute_values(":at", n(tokens.refreshed_at))
            .expression_attribute_values(":shard", n(token_shard(appid)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        Self::update_ignoring_condition(request).await
    }

    async fn record_refresh_error(&self, appid: &str, error: &str) -> Result<(), StoreError> {
        let request = self
            .update(appid)
            .update_expression("SET last_refresh_error = :error")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":error", s(error));
        Self::update_ignoring_condition(request).await.map(|_| ())
    }

    async fn release_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let request = self
            .update(appid)
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        let request = match error {
            Some(error) => request
                .update_expression(
                    "SET last_refresh_error = :error REMOVE lease_owner, lease_until",
                )
                .expression_attribute_values(":error", s(error)),
            None => request.update_expression("REMOVE lease_owner, lease_until"),
        };
        Self::update_ignoring_condition(request).await.map(|_| ())
    }

    async fn mark_reauthorization_required(
        &self,
        appid: &str,
        refused: &SecretString,
        at: i64,
    ) -> Result<bool, StoreError> {
        let request = self
            .update(appid)
            .update_expression(
                "SET #status = :status, reauthorization_required_at = :at, updated_at = :at, \
                 token_version = if_not_exists(token_version, :zero) + :one \
                 REMOVE access_token, access_token_expires_at, token_shard, lease_owner, lease_until",
            )
            .condition_expression("#status = :authorized AND refresh_token = :refused")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(AuthorizerStatus::ReauthorizationRequired.as_str()))
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(":refused", s(refused.expose_secret()))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        Self::update_ignoring_condition(request).await
    }

    async fn due_authorizers(
        &self,
        shard: i64,
        until: i64,
    ) -> Result<Vec<DueAuthorizer>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("token_shard = :shard AND access_token_expires_at < :until")
            .expression_attribute_values(":shard", n(shard))
            .expression_attribute_values(":until", n(until))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| StoreError::backend("Query", e))?;
        items.iter().map(DueAuthorizer::try_from).collect()
    }

    async fn all_authorizers(&self) -> Result<Vec<Authorizer>, StoreError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| StoreError::backend("Scan", e))?;
        items.iter().map(Authorizer::try_from).collect()
    }

    async fn adopt_refresh_token(
        &self,
        appid: &str,
        expected: Option<&SecretString>,
        listed: &SecretString,
        at: i64,
    ) -> Result<Option<i64>, StoreError> {
        let request = self
            .update(appid)
            .update_expression(
                "SET refresh_token = :listed, refresh_token_restored_at = :at, updated_at = :at, \
                 #status = :authorized, token_version = if_not_exists(token_version, :zero) + :one \
                 REMOVE reauthorization_required_at",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":listed", s(listed.expose_secret()))
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(
                ":reauth",
                s(AuthorizerStatus::ReauthorizationRequired.as_str()),
            )
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew);
        let status = "attribute_exists(#pk) AND #status IN (:authorized, :reauth)";
        let request = match expected {
            Some(expected) => request
                .condition_expression(format!("{status} AND refresh_token = :expected"))
                .expression_attribute_values(":expected", s(expected.expose_secret())),
            None => request
                .condition_expression(format!("{status} AND attribute_not_exists(refresh_token)")),
        };
        match request.send().await {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .map(|a| get(a, "token_version"))
                    .transpose()?
                    .unwrap_or(0),
            )),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::backend("UpdateItem", e)),
        }
    }

    async fn save_details(
        &self,
        appid: &str,
        info: &AuthorizerInfo,
        permission_sets: Option<&[i64]>,
    ) -> Result<bool, StoreError> {
        let mut attributes = detail_attributes(info);
        if let Some(sets) = permission_sets {
            attributes.extend(permission_attributes(sets));
        }
        attributes.push(("updated_at", n(super::unix_now())));
        let expression: Vec<String> = attributes
            .iter()
            .map(|(name, _)| format!("#{name} = :{name}"))
            .collect();
        let mut request = self
            .update(appid)
            .update_expression(format!("SET {}", expression.join(", ")))
            .condition_expression("attribute_exists(#pk) AND #status = :authorized")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()));
        for (name, value) in attributes {
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        Self::update_ignoring_condition(request).await
    }

    async fn flag_not_listed(&self, appid: &str, at: i64) -> Result<(), StoreError> {
        let request = self
            .update(appid)
            .update_expression("SET not_listed_by_wechat_at = :at")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":at", n(at));
        Self::update_ignoring_condition(request).await.map(|_| ())
    }

    async fn authorizer_page(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Authorizer>, Option<String>), StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(limit)
            .set_exclusive_start_key(after.map(Self::key))
            .send()
            .await
            .map_err(|e| StoreError::backend("Scan", e))?;
        let next = out.last_evaluated_key().map(|k| get(k, PK)).transpose()?;
        let page = out
            .items()
            .iter()
            .map(Authorizer::try_from)
            .collect::<Result<_, _>>()?;
        Ok((page, next))
    }

    async fn set_admin_attribute(
        &self,
        appid: &str,
        name: AdminAttribute,
        json: &str,
    ) -> Result<bool, StoreError> {
        let request = self
            .update(appid)
            .update_expression("SET #name = :value, updated_at = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#name", name.name())
            .expression_attribute_values(":value", s(json))
            .expression_attribute_values(":now", n(super::unix_now()));
        Self::update_ignoring_condition(request).await
    }
}
