//! The local stack and the tests' shared world.
//!
//! The tables are created from the one definition in template.yaml: its `AWS::DynamoDB::Table`
//! resources and the `*_TABLE` variables of the functions' Globals that reference them, each
//! created in the DynamoDB endpoint the SDK is pointed at (`AWS_ENDPOINT_URL_DYNAMODB`, moto
//! locally), with the same keys, indexes, billing mode, TTL and point-in-time recovery.
//!
//! A test starts its world with [`sim::Setup`]: the WeChat simulator of a component and its mini
//! programs, and (`Setup::start`) the platform on fresh tables next to it ([`world::World`]),
//! with the ticket stored and the mini programs authorized. It controls the simulator through
//! [`simctl::SimControl`] and waits with [`wait`].

pub mod apigw;
pub mod bench;
pub mod bulk;
pub mod bus;
pub mod counting;
pub mod event_source;
pub mod inbox;
pub mod owner;
pub mod sim;
pub mod simctl;
pub mod stream_source;
pub mod vectors;
pub mod wait;
pub mod webhooks;
pub mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;
use shared::config::TableNames;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template.yaml is not YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("EventBridge: {0}")]
    Events(String),
}

fn template_error(msg: impl Into<String>) -> StackError {
    StackError::Template(msg.into())
}

/// A key element: attribute name and HASH/RANGE.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub attribute: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub keys: Vec<Key>,
    pub projection: String,
    pub non_key_attributes: Vec<String>,
}

/// One table as template.yaml defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The logical id, e.g. `TicketsTable`.
    pub logical_id: String,
    /// The environment variable that carries its name, e.g. `TICKETS_TABLE`.
    pub env_var: String,
    /// attribute name → S/N/B
    pub attributes: BTreeMap<String, String>,
    pub keys: Vec<Key>,
    pub indexes: Vec<IndexSpec>,
    pub billing_mode: String,
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
}

impl TableSpec {
    /// The table's name under a prefix, e.g. `wxtp-dev-` + `tickets`.
    pub fn name_with(&self, prefix: &str) -> String {
        let base = self
            .logical_id
            .trim_end_matches("Table")
            .to_ascii_lowercase();
        format!("{prefix}{base}")
    }
}

/// The path of template.yaml at the workspace root.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

pub fn read_template(path: &Path) -> Result<String, StackError> {
    std::fs::read_to_string(path).map_err(|source| StackError::Read {
        path: path.to_owned(),
        source,
    })
}

fn str_at<'a>(value: &'a Value, key: &str, context: &str) -> Result<&'a str, StackError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| template_error(format!("{context}: {key} must be a string")))
}

fn keys_of(value: &Value, context: &str) -> Result<Vec<Key>, StackError> {
    value
        .get("KeySchema")
        .and_then(Value::as_sequence)
        .ok_or_else(|| template_error(format!("{context}: KeySchema missing")))?
        .iter()
        .map(|k| {
            Ok(Key {
                attribute: str_at(k, "AttributeName", context)?.to_owned(),
                key_type: str_at(k, "KeyType", context)?.to_owned(),
            })
        })
        .collect()
}

/// The `!Ref` target of a tagged YAML value, if it is one.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// Every DynamoDB table of the template, with the environment variable naming it.
pub fn table_specs(template: &str) -> Result<Vec<TableSpec>, StackError> {
    let doc: Value = serde_yaml::from_str(template)?;
    let env = doc
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .ok_or_else(|| template_error("Globals.Function.Environment.Variables missing"))?;
    let env_var_of = |logical_id: &str| {
        env.iter()
            .find(|(_, v)| ref_target(v) == Some(logical_id))
            .and_then(|(k, _)| k.as_str())
            .map(str::to_owned)
    };
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| template_error("Resources missing"))?;
    let mut specs = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let logical_id = id
            .as_str()
            .ok_or_else(|| template_error("resource id is not a string"))?;
        let props = resource
            .get("Properties")
            .ok_or_else(|| template_error(format!("{logical_id}: Properties missing")))?;
        let attributes = props
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .ok_or_else(|| template_error(format!("{logical_id}: AttributeDefinitions missing")))?
            .iter()
            .map(|a| {
                Ok((
                    str_at(a, "AttributeName", logical_id)?.to_owned(),
                    str_at(a, "AttributeType", logical_id)?.to_owned(),
                ))
            })
            .collect::<Result<BTreeMap<_, _>, StackError>>()?;
        let indexes = match props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
        {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|gsi| {
                    Ok(IndexSpec {
                        name: str_at(gsi, "IndexName", logical_id)?.to_owned(),
                        keys: keys_of(gsi, logical_id)?,
                        projection: gsi
                            .get("Projection")
                            .map(|p| str_at(p, "ProjectionType", logical_id))
                            .transpose()?
                            .unwrap_or("ALL")
                            .to_owned(),
                        non_key_attributes: gsi
                            .get("Projection")
                            .and_then(|p| p.get("NonKeyAttributes"))
                            .and_then(Value::as_sequence)
                            .map(|attrs| {
                                attrs
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                })
                .collect::<Result<_, StackError>>()?,
        };
        let ttl = props.get("TimeToLiveSpecification");
        let ttl_attribute = match ttl {
            Some(t) if t.get("Enabled").and_then(Value::as_bool) == Some(true) => {
                Some(str_at(t, "AttributeName", logical_id)?.to_owned())
            }
            _ => None,
        };
        specs.push(TableSpec {
            logical_id: logical_id.to_owned(),
            env_var: env_var_of(logical_id).ok_or_else(|| {
                template_error(format!("no Globals variable references {logical_id}"))
            })?,
            attributes,
            keys: keys_of(props, logical_id)?,
            indexes,
            billing_mode: str_at(props, "BillingMode", logical_id)?.to_owned(),
            ttl_attribute,
            point_in_time_recovery: props
                .get("PointInTimeRecoverySpecification")
                .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            stream_view_type: props
                .get("StreamSpecification")
                .map(|p| str_at(p, "StreamViewType", logical_id).map(str::to_owned))
                .transpose()?,
        });
    }
    Ok(specs)
}

fn dynamo_error<E: std::error::Error>(err: E) -> StackError {
    StackError::Dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

fn key_elements(keys: &[Key]) -> Result<Vec<KeySchemaElement>, StackError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(dynamo_error)
        })
        .collect()
}

/// Creates one table (if it does not exist yet), waits until it is active, then sets TTL and PITR.
pub async fn create_table(client: &Client, spec: &TableSpec, name: &str) -> Result<(), StackError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(spec.billing_mode.as_str()))
        .set_key_schema(Some(key_elements(&spec.keys)?));
    for (attribute, kind) in &spec.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(dynamo_error)?,
        );
    }
    for index in &spec.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_elements(&index.keys)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .set_non_key_attributes(
                            (!index.non_key_attributes.is_empty())
                                .then(|| index.non_key_attributes.clone()),
                        )
                        .build(),
                )
                .build()
                .map_err(dynamo_error)?,
        );
    }
    if let Some(view) = &spec.stream_view_type {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .map_err(dynamo_error)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(dynamo_error(e)),
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(std::time::Duration::from_secs(60))
        .await
        .map_err(dynamo_error)?;
    if let Some(attribute) = &spec.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(dynamo_error)?,
            )
            .send()
            .await
            .map_err(dynamo_error)?;
    }
    if spec.point_in_time_recovery {
        client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(dynamo_error)?,
            )
            .send()
            .await
            .map_err(dynamo_error)?;
    }
    Ok(())
}

/// Creates every table of template.yaml under `prefix`; returns the `*_TABLE` variables.
pub async fn create_tables(
    client: &Client,
    prefix: &str,
) -> Result<Vec<(String, String)>, StackError> {
    let specs = table_specs(&read_template(&template_path())?)?;
    let mut vars = Vec::new();
    for spec in &specs {
        let name = spec.name_with(prefix);
        create_table(client, spec, &name).await?;
        vars.push((spec.env_var.clone(), name));
    }
    Ok(vars)
}

/// [`create_tables`] as the functions' [`TableNames`].
pub async fn create_table_names(client: &Client, prefix: &str) -> Result<TableNames, StackError> {
    let vars = create_tables(client, prefix).await?;
    TableNames::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .map_err(|e| template_error(e.to_string()))
}

/// A DynamoDB client for the local endpoint (`AWS_ENDPOINT_URL_DYNAMODB`), with dummy credentials
/// and region when none are configured.
pub async fn local_client() -> Client {
    Client::new(&local_sdk_config().await)
}

/// The SDK configuration for local runs: the standard chain, with fallbacks for moto.
pub async fn local_sdk_config() -> aws_config::SdkConfig {
    // The production timeouts, with longer defaults: one moto serves every test, and on a loaded
    // 2-core machine its answers can take seconds.
    let get = |name: &str| {
        std::env::var(name).ok().or(match name {
            "AWS_ATTEMPT_TIMEOUT_MS" => Some("10000".into()),
            "AWS_OPERATION_TIMEOUT_MS" => Some("30000".into()),
            "AWS_CONNECT_TIMEOUT_MS" => Some("5000".into()),
            _ => None,
        })
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(shared::config::sdk_timeouts(get));
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "devstack",
        ));
    }
    loader.load().await
}

/// An SQS client for the local endpoint: `AWS_ENDPOINT_URL_SQS`, or else the DynamoDB one (one
/// moto serves every service locally).
pub async fn local_sqs_client() -> aws_sdk_sqs::Client {
    let sdk = local_sdk_config().await;
    let mut config = aws_sdk_sqs::config::Builder::from(&sdk);
    if std::env::var_os("AWS_ENDPOINT_URL_SQS").is_none() {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            config = config.endpoint_url(url);
        }
    }
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// A table-name prefix no other test (or test run) uses.
pub fn unique_prefix(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "t{}-{}-{}-{test}-",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// The client of the local DynamoDB for tests; panics with instructions when
/// `AWS_ENDPOINT_URL_DYNAMODB` is not set.
pub async fn test_client() -> Client {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with `make test`, which starts moto"
    );
    local_client().await
}

/// Fresh tables for one test in the local DynamoDB, which `make test` starts (moto).
///
/// Panics with instructions when `AWS_ENDPOINT_URL_DYNAMODB` is not set: these tests run against a
/// real DynamoDB-API server, never a mock.
pub async fn test_tables(test: &str) -> (Client, TableNames) {
    let client = test_client().await;
    let tables = create_table_names(&client, &unique_prefix(test))
        .await
        .unwrap_or_else(|e| panic!("creating tables for {test}: {e}"));
    (client, tables)
}

/// A platform for one test: fresh tables in the local DynamoDB and WeChat at `wechat_api_base`
/// (a simulator), as the functions build it in production; no step queue (a [`world::World`]
/// has one).
pub async fn test_platform(
    test: &str,
    config: shared::config::ComponentConfig,
    wechat_api_base: &str,
) -> shared::platform::Platform {
    let (dynamo, tables) = test_tables(test).await;
    shared::platform::Platform {
        config,
        tables,
        dynamo,
        sqs: local_sqs_client().await,
        rollout_queue_url: None,
        wechat: wechat_client(wechat_api_base, std::time::Duration::from_secs(5)),
    }
}

/// A WeChat client of every WeChat host at `base` (a simulator), waiting up to `timeout`.
pub fn wechat_client(base: &str, timeout: std::time::Duration) -> shared::wechat::WechatClient {
    let endpoints = shared::wechat::WechatEndpoints {
        api_base: base.to_owned(),
        mp_base: base.to_owned(),
        open_base: base.to_owned(),
    };
    shared::wechat::WechatClient::new(endpoints, timeout).expect("HTTP client")
}

/// A platform whose DynamoDB is at `dynamodb_url` (a port that refuses or never answers) and
/// whose WeChat is unreachable, with the production SDK configuration and timeouts
/// (`shared::config::aws_sdk_config`). It sets the process environment: only for a test binary
/// that holds this one test.
pub async fn platform_with_dynamodb_at(
    dynamodb_url: &str,
    config: shared::config::ComponentConfig,
) -> shared::platform::Platform {
    std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url);
    std::env::set_var("AWS_ACCESS_KEY_ID", "local");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "local");
    std::env::set_var("AWS_REGION", "us-east-1");
    // No timeout variable: the production defaults are what is tested.
    for name in [
        "AWS_ATTEMPT_TIMEOUT_MS",
        "AWS_OPERATION_TIMEOUT_MS",
        "AWS_CONNECT_TIMEOUT_MS",
    ] {
        std::env::remove_var(name);
    }
    let sdk = shared::config::aws_sdk_config().await;
    let tables = |name: &str| format!("unreachable-{name}");
    shared::platform::Platform {
        config,
        tables: TableNames {
            tickets: tables("tickets"),
            authorizers: tables("authorizers"),
            audits: tables("audits"),
            actions: tables("actions"),
            rollouts: tables("rollouts"),
            webhooks: tables("webhooks"),
            webhook_deliveries: tables("webhookdeliveries"),
            onboardings: tables("onboardings"),
            events: tables("events"),
        },
        dynamo: Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        rollout_queue_url: None,
        wechat: wechat_client("http://127.0.0.1:9", std::time::Duration::from_secs(5)),
    }
}

/// Component settings for tests.
pub fn component_config(
    appid: &str,
    appsecret: &str,
    token: &str,
    encoding_aes_key: &str,
) -> shared::config::ComponentConfig {
    shared::config::ComponentConfig {
        appid: appid.to_owned(),
        appsecret: appsecret.to_owned().into(),
        token: token.to_owned().into(),
        encoding_aes_key: encoding_aes_key.to_owned().into(),
        previous_encoding_aes_key: None,
        admin_token_hashes: None,
    }
}
