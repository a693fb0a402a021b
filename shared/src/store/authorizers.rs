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

use super::attr::{get_n, get_s, n, opt_n, opt_s, s, Item};
use super::tickets::is_condition_failure;
use super::StoreError;
use crate::authorizer::{Authorizer, AuthorizerStatus};

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

impl TryFrom<&Item> for Authorizer {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let status = get_s(item, "status")?;
        let permission_sets = match item.get("permission_sets") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| match v {
                    AttributeValue::N(x) => x
                        .parse()
                        .map_err(|_| StoreError::Malformed(format!("permission set {x}"))),
                    _ => Err(StoreError::Malformed(
                        "permission_sets holds a non-number".into(),
                    )),
                })
                .collect::<Result<Vec<i64>, _>>()?,
            _ => Vec::new(),
        };
        Ok(Self {
            appid: get_s(item, PK)?,
            status: AuthorizerStatus::parse(&status)
                .ok_or_else(|| StoreError::Malformed(format!("status {status}")))?,
            access_token: opt_s(item, "access_token")?.map(SecretString::from),
            access_token_expires_at: opt_n(item, "access_token_expires_at")?,
            refresh_token: opt_s(item, "refresh_token")?.map(SecretString::from),
            token_version: opt_n(item, "token_version")?.unwrap_or(0),
            permission_sets,
            nick_name: opt_s(item, "nick_name")?.unwrap_or_default(),
            head_img: opt_s(item, "head_img")?.unwrap_or_default(),
            user_name: opt_s(item, "user_name")?.unwrap_or_default(),
            principal_name: opt_s(item, "principal_name")?.unwrap_or_default(),
            service_type: opt_n(item, "service_type")?,
            verify_type: opt_n(item, "verify_type")?,
            qrcode_url: opt_s(item, "qrcode_url")?.unwrap_or_default(),
            mini_program_info: opt_s(item, "mini_program_info")?,
            authorized_at: opt_n(item, "authorized_at")?,
            unauthorized_at: opt_n(item, "unauthorized_at")?,
            last_event_time: get_n(item, "last_event_time")?,
        })
    }
}

pub trait AuthorizerStore {
    fn authorizer(
        &self,
        appid: &str,
    ) -> impl Future<Output = Result<Option<Authorizer>, StoreError>> + Send;

    /// Writes a fresh authorization (tokens, permission sets, details) unless a newer event is in.
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
}

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
        request = set(
            "permission_sets",
            AttributeValue::L(a.permission_sets.iter().map(|p| n(*p)).collect()),
            request,
        );
        request = set(
            "has_code_management",
            AttributeValue::Bool(a.has_code_management()),
            request,
        );
        request = set("last_event_time", n(a.last_event_time), request);
        request = set("updated_at", n(super::unix_now()), request);
        if let Some(at) = a.authorized_at {
            request = set("authorized_at", n(at), request);
        }
        for (name, value) in [
            ("nick_name", &a.nick_name),
            ("head_img", &a.head_img),
            ("user_name", &a.user_name),
            ("principal_name", &a.principal_name),
            ("qrcode_url", &a.qrcode_url),
        ] {
            if let Some(v) = optional_s(value) {
                request = set(name, v, request);
            }
        }
        for (name, value) in [
            ("service_type", a.service_type),
            ("verify_type", a.verify_type),
        ] {
            if let Some(v) = value {
                request = set(name, n(v), request);
            }
        }
        if let Some(info) = &a.mini_program_info {
            request = set("mini_program_info", s(info), request);
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
        match result {
            Ok(_) => Ok(EventOutcome::Applied),
            Err(e) if is_condition_failure(&e) => Ok(EventOutcome::Stale),
            Err(e) => Err(StoreError::backend("UpdateItem", e)),
        }
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
        match result {
            Ok(_) => Ok(EventOutcome::Applied),
            Err(e) if is_condition_failure(&e) => Ok(EventOutcome::Stale),
            Err(e) => Err(StoreError::backend("UpdateItem", e)),
        }
    }
}
