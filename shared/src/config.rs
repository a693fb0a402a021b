//! Configuration read once per cold start.
//!
//! Component settings come from one Secrets Manager secret when `COMPONENT_SECRET_ID` is set (a
//! JSON object with the `COMPONENT_*` names as keys), otherwise from the `COMPONENT_*` variables
//! (local runs). Table names come from the environment set by template.yaml.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::crypto::{AesKey, CryptoError, MessageCrypto};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration {0} is missing")]
    Missing(&'static str),
    #[error("configuration {name} is invalid: {source}")]
    InvalidKey {
        name: &'static str,
        #[source]
        source: CryptoError,
    },
    #[error("configuration {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("secret {secret_id} could not be read from Secrets Manager: {reason}")]
    Secret { secret_id: String, reason: String },
}

/// The third-party platform's own settings (open.weixin.qq.com → 开发资料).
#[derive(Clone)]
pub struct ComponentConfig {
    pub appid: String,
    pub appsecret: SecretString,
    pub token: SecretString,
    pub encoding_aes_key: SecretString,
    pub previous_encoding_aes_key: Option<SecretString>,
    /// code-admin's labelled SHA-256 hashes of the admin tokens (`label:hash,…`), if kept in the
    /// component secret rather than in `ADMIN_TOKEN_HASHES`.
    pub admin_token_hashes: Option<String>,
}

impl std::fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentConfig")
            .field("appid", &self.appid)
            .field(
                "previous_encoding_aes_key",
                &self.previous_encoding_aes_key.is_some(),
            )
            .finish_non_exhaustive()
    }
}

/// The secret's JSON: the same names as the environment variables.
#[derive(Deserialize)]
struct SecretDocument {
    #[serde(rename = "COMPONENT_APPID")]
    appid: Option<String>,
    #[serde(rename = "COMPONENT_APPSECRET")]
    appsecret: Option<SecretString>,
    #[serde(rename = "COMPONENT_TOKEN")]
    token: Option<SecretString>,
    #[serde(rename = "COMPONENT_ENCODING_AES_KEY")]
    encoding_aes_key: Option<SecretString>,
    #[serde(rename = "COMPONENT_PREVIOUS_ENCODING_AES_KEY")]
    previous_encoding_aes_key: Option<SecretString>,
    #[serde(rename = "ADMIN_TOKEN_HASHES")]
    admin_token_hashes: Option<String>,
}

impl ComponentConfig {
    /// From `COMPONENT_*` variables of the given lookup (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Self::validated(Self {
            appid: required("COMPONENT_APPID")?,
            appsecret: required("COMPONENT_APPSECRET")?.into(),
            token: required("COMPONENT_TOKEN")?.into(),
            encoding_aes_key: required("COMPONENT_ENCODING_AES_KEY")?.into(),
            previous_encoding_aes_key: get("COMPONENT_PREVIOUS_ENCODING_AES_KEY")
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from),
            admin_token_hashes: get("ADMIN_TOKEN_HASHES").filter(|v| !v.trim().is_empty()),
        })
    }

    /// From the JSON text of the component secret.
    pub fn from_secret_json(json: &str) -> Result<Self, ConfigError> {
        let doc: SecretDocument = serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
            name: "COMPONENT_SECRET_ID",
            // serde's message names the field and position, never the value.
            reason: format!("secret is not the expected JSON object ({e})"),
        })?;
        let present = |v: Option<SecretString>, name: &'static str| {
            v.filter(|s| !s.expose_secret().trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Self::validated(Self {
            appid: doc
                .appid
                .filter(|s| !s.trim().is_empty())
                .ok_or(ConfigError::Missing("COMPONENT_APPID"))?,
            appsecret: present(doc.appsecret, "COMPONENT_APPSECRET")?,
            token: present(doc.token, "COMPONENT_TOKEN")?,
            encoding_aes_key: present(doc.encoding_aes_key, "COMPONENT_ENCODING_AES_KEY")?,
            previous_encoding_aes_key: doc
                .previous_encoding_aes_key
                .filter(|s| !s.expose_secret().trim().is_empty()),
            admin_token_hashes: doc.admin_token_hashes.filter(|s| !s.trim().is_empty()),
        })
    }

    /// Reads the secret once (cold start) when `COMPONENT_SECRET_ID` is set, else the environment.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        match std::env::var("COMPONENT_SECRET_ID")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(secret_id) => {
                Self::from_secrets_manager(&aws_sdk_secretsmanager::Client::new(sdk), &secret_id)
                    .await
            }
            None => Self::from_lookup(|name| std::env::var(name).ok()),
        }
    }

    /// From the component secret (JSON with the `COMPONENT_*` keys) in Secrets Manager.
    pub async fn from_secrets_manager(
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Self, ConfigError> {
        let out = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| ConfigError::Secret {
                secret_id: secret_id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let json = out.secret_string.ok_or_else(|| ConfigError::Secret {
            secret_id: secret_id.to_owned(),
            reason: "the secret has no SecretString".into(),
        })?;
        Self::from_secret_json(&json)
    }

    fn validated(self) -> Result<Self, ConfigError> {
        self.message_crypto()?;
        Ok(self)
    }

    /// The crypto for this component's pushes; fails on a malformed EncodingAESKey.
    pub fn message_crypto(&self) -> Result<MessageCrypto, ConfigError> {
        let key = |name: &'static str, value: &SecretString| {
            AesKey::from_encoding_aes_key(value.expose_secret())
                .map_err(|source| ConfigError::InvalidKey { name, source })
        };
        let current = key("COMPONENT_ENCODING_AES_KEY", &self.encoding_aes_key)?;
        let previous = self
            .previous_encoding_aes_key
            .as_ref()
            .map(|k| key("COMPONENT_PREVIOUS_ENCODING_AES_KEY", k))
            .transpose()?;
        Ok(MessageCrypto::from_keys(
            self.token.clone(),
            self.appid.clone(),
            current,
            previous,
        ))
    }
}

/// DynamoDB table names, set by template.yaml (and by the local stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub tickets: String,
    pub authorizers: String,
    pub audits: String,
    pub actions: String,
    pub rollouts: String,
    /// Webhook subscriptions and their deliveries (`shared::store::webhooks`).
    pub webhooks: String,
    pub webhook_deliveries: String,
    pub onboardings: String,
    /// The outbox of the platform's events (every push, every state change): `EVENTS_TABLE`.
    pub events: String,
}

impl TableNames {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Ok(Self {
            tickets: required("TICKETS_TABLE")?,
            authorizers: required("AUTHORIZERS_TABLE")?,
            audits: required("AUDITS_TABLE")?,
            actions: required("ACTIONS_TABLE")?,
            rollouts: required("ROLLOUTS_TABLE")?,
            webhooks: required("WEBHOOKS_TABLE")?,
            webhook_deliveries: required("WEBHOOK_DELIVERIES_TABLE")?,
            onboardings: required("ONBOARDINGS_TABLE")?,
            events: required("EVENTS_TABLE")?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// A whole-number setting of at least `min`: `default` when unset or empty, an error naming the
/// variable otherwise.
pub fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
    min: i64,
) -> Result<i64, ConfigError> {
    match get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or(ConfigError::Invalid {
                name,
                reason: format!("{v:?} is not a whole number >= {min}"),
            }),
    }
}

/// A lookup over a fixed map, for tests and tools.
pub fn map_lookup<'a>(map: &'a HashMap<&str, &str>) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| map.get(name).map(|v| (*v).to_owned())
}

/// The AWS SDK configuration, built once per cold start. Honours `AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_SQS` (the SDK's standard service
/// endpoint variables).
///
/// Every client built from it (DynamoDB, Secrets Manager, SQS, aws-config's own credential providers)
/// shares one HTTP client, the SDK's default one (hyper, rustls with aws-lc, the system's root
/// certificates), whose TLS configuration is built by the first AWS call (README, "Init time").
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    let get = |name: &str| std::env::var(name).ok();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(sdk_timeouts(get));
    if let Some(https) = ConnectOnFirstCall::sdk_default() {
        loader = loader.http_client(https);
    }
    loader.load().await
}

/// The SDK's default HTTPS client, less the TLS set-up it does when a client is constructed.
///
/// Left to itself, every AWS service client builds its own copy of that client and, while being
/// constructed (`validate_base_client_config`), a connector: the system's root certificates read
/// and parsed (aws-smithy-http-client does it on purpose, "so that native certs load at client
/// initialization time"), about a third of a function's init time. Wrapped, the connector is
/// built by the first call that needs it and then cached for every client sharing this one.
struct ConnectOnFirstCall(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl std::fmt::Debug for ConnectOnFirstCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectOnFirstCall")
    }
}

impl ConnectOnFirstCall {
    /// The client the SDK would pick for `BehaviorVersion::latest()`, wrapped.
    fn sdk_default() -> Option<Self> {
        use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
        use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
        let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
            aws_config::BehaviorVersion::latest(),
        )?;
        let components =
            plugin.runtime_components(&RuntimeComponentsBuilder::new("aws_sdk_config"));
        components.http_client().map(Self)
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for ConnectOnFirstCall {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // validate_base_client_config is not passed on: that is where the default client builds its
    // connector. validate_final_config: the default client has no checks there either.

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Timeouts of every AWS call (DynamoDB, Secrets Manager, SQS). Without them a frozen DynamoDB hangs a
/// push for a minute, past WeChat's 5 s, so the push is lost to WeChat's retries instead of being
/// answered 503 at once. `AWS_ATTEMPT_TIMEOUT_MS` (default 1000) bounds one attempt,
/// `AWS_OPERATION_TIMEOUT_MS` (default 2500) the call with its retries, `AWS_CONNECT_TIMEOUT_MS`
/// (default 500) the connection.
pub fn sdk_timeouts(get: impl Fn(&str) -> Option<String>) -> aws_config::timeout::TimeoutConfig {
    let millis = |name: &str, default: u64| {
        std::time::Duration::from_millis(
            get(name)
                .and_then(|v| v.parse().ok())
                .filter(|ms| *ms > 0)
                .unwrap_or(default),
        )
    };
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(millis("AWS_CONNECT_TIMEOUT_MS", 500))
        .operation_attempt_timeout(millis("AWS_ATTEMPT_TIMEOUT_MS", 1000))
        .operation_timeout(millis("AWS_OPERATION_TIMEOUT_MS", 2500))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn env<'a>(extra: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
        let mut map = HashMap::from([
            ("COMPONENT_APPID", "wxcomponent"),
            ("COMPONENT_APPSECRET", "s3cret-value"),
            ("COMPONENT_TOKEN", "tok"),
            ("COMPONENT_ENCODING_AES_KEY", KEY),
        ]);
        map.extend(extra.iter().copied());
        map
    }

    #[test]
    fn reads_environment_and_never_prints_secrets() {
        let map = env(&[]);
        let config = ComponentConfig::from_lookup(map_lookup(&map)).unwrap();
        assert_eq!(config.appid, "wxcomponent");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret-value") && !shown.contains(KEY) && !shown.contains("tok\""),
            "{shown}"
        );
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let mut map = env(&[]);
        map.remove("COMPONENT_TOKEN");
        let err = ComponentConfig::from_lookup(map_lookup(&map)).unwrap_err();
        assert!(matches!(err, ConfigError::Missing("COMPONENT_TOKEN")));
        let map = env(&[("COMPONENT_ENCODING_AES_KEY", "short")]);
        let err = ComponentConfig::from_lookup(map_lookup(&map)).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::InvalidKey {
                    name: "COMPONENT_ENCODING_AES_KEY",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("short"));
        let map = env(&[("COMPONENT_PREVIOUS_ENCODING_AES_KEY", "!!!")]);
        let err = ComponentConfig::from_lookup(map_lookup(&map)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidKey {
                name: "COMPONENT_PREVIOUS_ENCODING_AES_KEY",
                ..
            }
        ));
    }

    #[test]
    fn reads_secret_json() {
        let json = format!(
            r#"{{"COMPONENT_APPID":"wxc","COMPONENT_APPSECRET":"s","COMPONENT_TOKEN":"t","COMPONENT_ENCODING_AES_KEY":"{KEY}","COMPONENT_PREVIOUS_ENCODING_AES_KEY":"{}"}}"#,
            "A".repeat(43)
        );
        let config = ComponentConfig::from_secret_json(&json).unwrap();
        assert_eq!(config.appid, "wxc");
        assert!(config.previous_encoding_aes_key.is_some());
        let err = ComponentConfig::from_secret_json(r#"{"COMPONENT_APPID":"wxc"}"#).unwrap_err();
        assert!(matches!(err, ConfigError::Missing("COMPONENT_APPSECRET")));
        let err = ComponentConfig::from_secret_json("not json").unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
    }

    #[test]
    fn table_names_are_required() {
        let map = HashMap::from([("TICKETS_TABLE", "t"), ("AUTHORIZERS_TABLE", "a")]);
        assert!(matches!(
            TableNames::from_lookup(map_lookup(&map)),
            Err(ConfigError::Missing("AUDITS_TABLE"))
        ));
    }
}
