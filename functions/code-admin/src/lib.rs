//! code-admin: the admin HTTP API under `/admin` managing authorized mini programs' code, review
//! and release, as glue: token (auth.rs) → route (routes.rs) → typed request (requests.rs) →
//! validated fields (validate.rs) → recorded (record.rs) → service call or typed WeChat endpoint (dispatch.rs, over
//! `shared::code_release`) → answer, WeChat's errcodes mapped once (errors.rs). Bodies are capped.

pub mod auth;
mod dispatch;
pub mod errors;
mod health;
mod onboardings;
mod pushes;
mod record;
mod registrations;
pub mod requests;
pub mod rollouts;
pub mod routes;
pub mod validate;
pub mod webhooks;

use std::collections::HashMap;
use std::time::Duration;

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};
use shared::authorization::AuthorizationService;
use shared::code_release::CodeReleaseService;
use shared::config::{whole_number, ConfigError};
use shared::platform::Platform;
use shared::review_readiness::ScanWait;
use shared::rollout::PlatformRollouts;
use shared::store::{
    ActionLog, DynamoActionLog, DynamoAuditStore, DynamoAuthorizerStore, DynamoTicketStore,
};

pub use auth::AdminTokens;
use auth::TokenRefusal;
use errors::{invalid, AdminError};
use routes::{changes_state, match_route};

/// The largest admin request body: ample for any admin call (API Gateway would pass 10 MB), and
/// small enough that a call's validated fields always fit an action-log item (DynamoDB: 400 KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest `PRIVACY_SCAN_WAIT_SECS`.
const MAX_SCAN_WAIT_SECS: i64 = 20;

/// The code release service over the platform's tables.
type PlatformCodeRelease =
    CodeReleaseService<DynamoTicketStore, DynamoAuthorizerStore, DynamoAuditStore>;

/// The admin API over the platform's tables, with its action log `L` (a test gives a failing
/// one; `shared::code_release` stays generic over every store).
pub struct CodeAdmin<L = DynamoActionLog> {
    code: PlatformCodeRelease,
    /// None when the platform has no rollout queue (the rollout routes answer 503).
    rollouts: Option<PlatformRollouts>,
    /// None when the platform has no onboardings table (tests of other routes).
    onboardings: Option<shared::platform::PlatformOnboardings>,
    /// The events table, for `GET /admin/pushes` (none: those routes answer 503).
    events: Option<shared::store::DynamoEventStore>,
    actions: L,
    tokens: AdminTokens,
    /// None when the platform has no bus (the webhook routes answer 503).
    webhooks: Option<webhooks::WebhookAdmin>,
}

pub type PlatformCodeAdmin = CodeAdmin<DynamoActionLog>;

impl PlatformCodeAdmin {
    pub fn from_platform(platform: &Platform, tokens: AdminTokens) -> Self {
        Self::new(
            platform.authorization_service(),
            DynamoAuditStore::new(platform.dynamo.clone(), &platform.tables.audits),
            DynamoActionLog::new(platform.dynamo.clone(), &platform.tables.actions),
            tokens,
        )
        .with_rollouts(platform.rollouts())
        .with_onboardings(Some(platform.onboardings()))
        .with_events(platform.event_store())
    }

    /// The webhooks' AWS side, from the environment ([`webhooks::WebhookSettings`]).
    pub async fn with_webhooks_from_env(self, platform: &Platform) -> Self {
        let Some(settings) =
            webhooks::WebhookSettings::from_lookup(|name| std::env::var(name).ok())
        else {
            return self;
        };
        // A second SDK configuration (the Platform keeps none): the same shared HTTP client.
        let sdk = shared::config::aws_sdk_config().await;
        self.with_webhooks(Some(webhooks::WebhookAdmin {
            store: shared::store::WebhookStore::new(
                platform.dynamo.clone(),
                &platform.tables.webhooks,
                &platform.tables.webhook_deliveries,
            ),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: platform.sqs.clone(),
            settings,
        }))
    }

    /// `ADMIN_TOKEN_HASHES` (labelled SHA-256 hashes) from the environment or the component secret.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let platform = Platform::from_env().await?;
        let spec = std::env::var("ADMIN_TOKEN_HASHES")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| platform.config.admin_token_hashes.clone())
            .ok_or(ConfigError::Missing("ADMIN_TOKEN_HASHES"))?;
        let tokens = AdminTokens::parse(&spec).map_err(|e| ConfigError::Invalid {
            name: "ADMIN_TOKEN_HASHES",
            reason: e.to_string(),
        })?;
        let get = |name: &str| std::env::var(name).ok();
        let wait_secs = whole_number(&get, "PRIVACY_SCAN_WAIT_SECS", 8, 0)?;
        // Within the function's 29 s (API Gateway's 30 s), with room for the calls around it.
        if wait_secs > MAX_SCAN_WAIT_SECS {
            return Err(ConfigError::Invalid {
                name: "PRIVACY_SCAN_WAIT_SECS",
                reason: format!("{wait_secs} s is more than {MAX_SCAN_WAIT_SECS} s"),
            });
        }
        Ok(Self::from_platform(&platform, tokens)
            .with_scan_wait(ScanWait {
                wait: Duration::from_secs(wait_secs as u64),
                ..ScanWait::default()
            })
            .with_webhooks_from_env(&platform)
            .await)
    }
}

/// What a route answers: JSON, or an image.
enum Answer {
    Json(Value),
    Image {
        content_type: String,
        bytes: Vec<u8>,
    },
}

fn request_body(request: &Request) -> Result<Value, AdminError> {
    let bytes = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid("body", "a JSON object")),
    }
}

impl<L> CodeAdmin<L> {
    /// The onboarding routes' service (and the filing check of releases).
    pub fn with_onboardings(
        self,
        onboardings: Option<shared::platform::PlatformOnboardings>,
    ) -> Self {
        Self {
            onboardings,
            ..self
        }
    }

    /// The rollout routes' service.
    pub fn with_rollouts(self, rollouts: Option<PlatformRollouts>) -> Self {
        Self { rollouts, ..self }
    }

    /// The webhook routes' AWS side.
    pub fn with_webhooks(self, webhooks: Option<webhooks::WebhookAdmin>) -> Self {
        Self { webhooks, ..self }
    }

    /// The events table the push routes read.
    pub fn with_events(self, events: shared::store::DynamoEventStore) -> Self {
        Self {
            events: Some(events),
            ..self
        }
    }

    /// How long submit waits for a running privacy scan (`PRIVACY_SCAN_WAIT_SECS`).
    pub fn with_scan_wait(self, wait: ScanWait) -> Self {
        Self {
            code: self.code.with_scan_wait(wait),
            ..self
        }
    }

    pub fn new(
        service: AuthorizationService<DynamoTicketStore, DynamoAuthorizerStore>,
        audits: DynamoAuditStore,
        actions: L,
        tokens: AdminTokens,
    ) -> Self {
        Self {
            code: CodeReleaseService::new(service, audits),
            rollouts: None,
            onboardings: None,
            events: None,
            actions,
            tokens,
            webhooks: None,
        }
    }
}

fn json_answer(status: StatusCode, body: &Value) -> Response<Body> {
    shared::web::json_response(status, body).map(Body::from)
}

/// The Lambda handler for `/admin/...`.
pub async fn handle<L: ActionLog + Sync>(
    admin: &CodeAdmin<L>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let label = match admin.tokens.verify(authorization) {
        Ok(label) => label,
        Err(refusal) => return Ok(unauthorized(&method, &path, refusal)),
    };
    if request.body().len() > MAX_BODY_BYTES {
        // Refused before it is parsed or recorded: nothing of it is kept.
        let err = AdminError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        };
        tracing::warn!(
            label,
            method,
            path,
            bytes = request.body().len(),
            "admin call refused: body too large"
        );
        return Ok(json_answer(err.status(), &err.body()));
    }
    let Some((op, params)) = match_route(&method, &path) else {
        let err = AdminError::NotFound { method, path };
        return Ok(json_answer(err.status(), &err.body()));
    };
    let query: HashMap<String, String> = request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body = match request_body(&request) {
        Ok(body) => body,
        Err(err) => return Ok(json_answer(err.status(), &err.body())),
    };
    let result = if changes_state(&method) {
        admin.act(&label, op, &params, &query, &body).await
    } else {
        admin.read(op, &params, &query).await
    };
    Ok(match result {
        Ok(Answer::Json(value)) => {
            tracing::info!(
                label,
                ?op,
                appid = params.get("appid").map(String::as_str).unwrap_or("-"),
                "admin call"
            );
            json_answer(StatusCode::OK, &value)
        }
        Ok(Answer::Image {
            content_type,
            bytes,
        }) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::Binary(bytes))
            .expect("valid response"),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(label, ?op, error = %err, "admin call failed");
            } else {
                tracing::warn!(label, ?op, error = %err, status = err.status().as_u16(), "admin call refused");
            }
            let mut response = json_answer(err.status(), &err.body());
            if let Some(secs) = err.retry_after_secs() {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    secs.to_string().parse().expect("digits are a header value"),
                );
            }
            response
        }
    })
}

/// 401 with `WWW-Authenticate: Bearer`; the token is never logged.
fn unauthorized(method: &str, path: &str, refusal: TokenRefusal) -> Response<Body> {
    let err = match refusal {
        TokenRefusal::TooWeak => AdminError::TokenTooWeak,
        TokenRefusal::Missing | TokenRefusal::Unknown => AdminError::Unauthorized,
    };
    tracing::warn!(
        method,
        path,
        ?refusal,
        "admin call refused: missing or invalid token"
    );
    let mut response = json_answer(err.status(), &err.body());
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Bearer".parse().expect("static header"),
    );
    response
}
