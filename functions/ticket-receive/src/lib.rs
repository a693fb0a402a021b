//! The authorization event URL (`POST /wechat/component/notify`).
//!
//! Verifies `msg_signature`, decrypts with the component key (or the previous key after a
//! rotation), checks the appid is ours, parses the push and stores it durably before answering
//! `success`. A storage failure is answered 503 so that WeChat retries; bad input gets a 4xx JSON
//! error and nothing is stored.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::audit::MessagePush;
use shared::authorization::{AuthError, AuthorizationService, PushAction, PushActions};
use shared::config::ConfigError;
use shared::crypto::{CryptoError, KeyUsed, MessageCrypto};
use shared::platform::Platform;
use shared::push::{Addressee, AuthorizationEvent, AuthorizationPush, Envelope, MAX_PUSH_BYTES};
use shared::store::{
    unix_now, AuditStore, DynamoAuditStore, DynamoAuthorizerStore, DynamoTicketStore, PushOutcome,
    PushStore, ReceivedPush, StatusChange, StoreError, TicketOutcome, TicketStore, VerifyTicket,
};
use shared::xml::XmlError;
use tracing::{info, warn};

/// Why a push was refused. Each maps to one HTTP status at the edge.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("query parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("encrypt_type {0:?} is not supported (only aes)")]
    UnsupportedEncryptType(String),
    #[error("body is larger than {MAX_PUSH_BYTES} bytes")]
    TooLarge,
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("envelope: {0}")]
    BadEnvelope(XmlError),
    #[error("the envelope is addressed wrongly for this URL (AppId on the component URL, ToUserName on a message URL)")]
    WrongEnvelope,
    #[error("the path's appid is not an appid")]
    BadAppid,
    #[error("push is addressed to another component")]
    ForeignAppId,
    #[error("msg_signature does not match")]
    BadSignature,
    #[error("cannot decrypt: {0}")]
    Undecryptable(CryptoError),
    #[error("decrypted push: {0}")]
    BadPush(XmlError),
    #[error("storage unavailable: {0}")]
    Storage(#[from] StoreError),
    #[error("stored, but acting on it failed; retry: {0}")]
    Action(#[from] AuthError),
}

impl NotifyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingParameter(_)
            | Self::UnsupportedEncryptType(_)
            | Self::NotUtf8
            | Self::BadEnvelope(_)
            | Self::WrongEnvelope
            | Self::BadAppid
            | Self::Undecryptable(_)
            | Self::BadPush(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::ForeignAppId => StatusCode::FORBIDDEN,
            Self::Storage(_) | Self::Action(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable machine-readable code for the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParameter(_) => "missing_parameter",
            Self::UnsupportedEncryptType(_) => "unsupported_encrypt_type",
            Self::TooLarge => "body_too_large",
            Self::NotUtf8 | Self::BadEnvelope(_) | Self::WrongEnvelope => "bad_envelope",
            Self::BadAppid => "bad_appid",
            Self::ForeignAppId => "foreign_appid",
            Self::BadSignature => "bad_signature",
            Self::Undecryptable(_) => "undecryptable",
            Self::BadPush(_) => "bad_push",
            Self::Storage(_) => "storage_unavailable",
            Self::Action(_) => "action_failed",
        }
    }
}

/// The query WeChat sends with a push (§1.2).
#[derive(Debug, Clone, Default)]
pub struct PushQuery {
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub msg_signature: Option<String>,
    pub encrypt_type: Option<String>,
}

/// What was done with an accepted push.
/// What was done with a message-URL push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageReceipt {
    /// The latest audit moved forward (`applied`), or was already there or further.
    Audit {
        auditid: i64,
        applied: bool,
    },
    NoAudit,
    Ignored,
}

fn is_appid(value: &str) -> bool {
    value.len() == 18
        && value.starts_with("wx")
        && value[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Ticket(TicketOutcome),
    Push {
        info_type: String,
        outcome: PushOutcome,
        action: PushAction,
    },
}

/// The receiver: the component's crypto, the stores and what acts on pushes, built once per cold
/// start.
pub struct Receiver<S, A, U> {
    crypto: MessageCrypto,
    store: S,
    actions: A,
    audits: U,
}

impl<S, A, U> Receiver<S, A, U> {
    pub fn new(crypto: MessageCrypto, store: S, actions: A, audits: U) -> Self {
        Self {
            crypto,
            store,
            actions,
            audits,
        }
    }
}

/// The production receiver: DynamoDB and the authorization service.
pub type PlatformReceiver = Receiver<
    DynamoTicketStore,
    AuthorizationService<DynamoTicketStore, DynamoAuthorizerStore>,
    DynamoAuditStore,
>;

impl PlatformReceiver {
    pub fn from_platform(platform: &Platform) -> Result<Self, ConfigError> {
        Ok(Self::new(
            platform.config.message_crypto()?,
            platform.ticket_store(),
            platform.authorization_service(),
            DynamoAuditStore::new(platform.dynamo.clone(), &platform.tables.audits),
        ))
    }

    /// Reads the configuration (env or Secrets Manager) and builds the clients once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_platform(&Platform::from_env().await?)
    }
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, NotifyError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(NotifyError::MissingParameter(name))
}

impl<S: TicketStore + PushStore, A: PushActions, U: AuditStore> Receiver<S, A, U> {
    /// Checks the query and the envelope, verifies `msg_signature` and decrypts (the trailer must
    /// be the component appid, on both URLs: reference §1.1).
    fn open(
        &self,
        query: &PushQuery,
        body: &[u8],
        component_url: bool,
    ) -> Result<String, NotifyError> {
        let timestamp = required(&query.timestamp, "timestamp")?;
        let nonce = required(&query.nonce, "nonce")?;
        let msg_signature = required(&query.msg_signature, "msg_signature")?;
        if let Some(kind) = query
            .encrypt_type
            .as_deref()
            .filter(|k| !k.eq_ignore_ascii_case("aes"))
        {
            return Err(NotifyError::UnsupportedEncryptType(kind.to_owned()));
        }
        if body.len() > MAX_PUSH_BYTES {
            return Err(NotifyError::TooLarge);
        }
        let body = std::str::from_utf8(body).map_err(|_| NotifyError::NotUtf8)?;
        let envelope = Envelope::parse(body).map_err(NotifyError::BadEnvelope)?;
        match (&envelope.addressee, component_url) {
            (Addressee::Component(appid), true) if appid == self.crypto.appid() => {}
            (Addressee::Component(_), true) => return Err(NotifyError::ForeignAppId),
            (Addressee::Authorizer(_), false) => {}
            _ => return Err(NotifyError::WrongEnvelope),
        }
        if envelope.encrypt.is_empty() {
            return Err(NotifyError::Undecryptable(CryptoError::EmptyCiphertext));
        }
        self.crypto
            .verify_msg_signature(msg_signature, timestamp, nonce, &envelope.encrypt)
            .map_err(|_| NotifyError::BadSignature)?;
        let (plaintext, key) = self
            .crypto
            .decrypt(&envelope.encrypt)
            .map_err(|e| match e {
                CryptoError::WrongAppId { .. } => NotifyError::ForeignAppId,
                other => NotifyError::Undecryptable(other),
            })?;
        if key == KeyUsed::Previous {
            warn!("push opened with COMPONENT_PREVIOUS_ENCODING_AES_KEY; the console key has been rotated");
        }
        Ok(plaintext)
    }

    /// Verifies, decrypts, parses and stores one push to the authorization event URL.
    pub async fn receive(&self, query: &PushQuery, body: &[u8]) -> Result<Receipt, NotifyError> {
        let plaintext = self.open(query, body, true)?;
        let push = AuthorizationPush::parse(&plaintext).map_err(NotifyError::BadPush)?;
        if push.component_appid != self.crypto.appid() {
            return Err(NotifyError::ForeignAppId);
        }
        self.store_push(push, plaintext).await
    }

    /// A push to a mini program's message URL (`$APPID$` = `appid`): review results move its
    /// latest audit forward (never backwards); other messages are logged.
    pub async fn receive_message(
        &self,
        appid: &str,
        query: &PushQuery,
        body: &[u8],
    ) -> Result<MessageReceipt, NotifyError> {
        if !is_appid(appid) {
            return Err(NotifyError::BadAppid);
        }
        let plaintext = self.open(query, body, false)?;
        let event = match MessagePush::parse(&plaintext).map_err(NotifyError::BadPush)? {
            MessagePush::Audit(event) => event,
            MessagePush::Other { msg_type, event } => {
                info!(
                    appid,
                    msg_type,
                    event = event.as_deref().unwrap_or("-"),
                    "message push acknowledged"
                );
                return Ok(MessageReceipt::Ignored);
            }
        };
        let Some(audit) = self.audits.latest_audit(appid).await? else {
            warn!(
                appid,
                status = event.status.as_str(),
                "review result for a mini program with no audit on record"
            );
            return Ok(MessageReceipt::NoAudit);
        };
        let change = StatusChange {
            status: event.status,
            reason: event.reason,
            screenshot: event.screenshot,
            at: event.at,
        };
        let applied = self
            .audits
            .apply_status(appid, audit.auditid, &change)
            .await?;
        info!(
            appid,
            auditid = audit.auditid,
            status = change.status.as_str(),
            applied,
            "review result"
        );
        Ok(MessageReceipt::Audit {
            auditid: audit.auditid,
            applied,
        })
    }

    async fn store_push(
        &self,
        push: AuthorizationPush,
        plaintext: String,
    ) -> Result<Receipt, NotifyError> {
        let received_at = unix_now();
        if let AuthorizationEvent::ComponentVerifyTicket { ticket } = &push.event {
            let outcome = self
                .store
                .save_verify_ticket(
                    &push.component_appid,
                    VerifyTicket {
                        ticket: ticket.clone().into(),
                        create_time: push.create_time,
                        received_at,
                    },
                )
                .await?;
            info!(info_type = %push.info_type, create_time = push.create_time, ?outcome, "component_verify_ticket received");
            return Ok(Receipt::Ticket(outcome));
        }
        let record = ReceivedPush {
            component_appid: push.component_appid.clone(),
            info_type: push.info_type.clone(),
            authorizer_appid: push.authorizer_appid().map(str::to_owned),
            create_time: push.create_time,
            received_at,
            plaintext,
        };
        let outcome = self.store.record_push(&record).await?;
        info!(
            info_type = %push.info_type,
            authorizer_appid = record.authorizer_appid.as_deref().unwrap_or("-"),
            create_time = push.create_time,
            ?outcome,
            "authorization push stored"
        );
        // Stored first, acted on second: a retried push acts again (the actions are idempotent).
        let action = self.actions.act_on_push(&push).await?;
        if let PushAction::Failed { reason } = &action {
            tracing::error!(info_type = %push.info_type, reason, "push stored but cannot be acted on");
            self.store
                .set_push_status(&record, "failed", Some(reason))
                .await?;
        } else {
            info!(info_type = %push.info_type, ?action, "push acted on");
            self.store
                .set_push_status(&record, "processed", None)
                .await?;
        }
        Ok(Receipt::Push {
            info_type: push.info_type,
            outcome,
            action,
        })
    }
}

/// The query parameters of a Lambda HTTP request.
pub fn push_query(request: &Request) -> PushQuery {
    let params = request.query_string_parameters();
    let get = |name: &str| params.first(name).map(str::to_owned);
    PushQuery {
        timestamp: get("timestamp"),
        nonce: get("nonce"),
        msg_signature: get("msg_signature"),
        encrypt_type: get("encrypt_type"),
    }
}

/// Answers WeChat: the plain text `success`.
pub fn success() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from("success"))
        .expect("static response")
}

/// A JSON error body `{"error": code, "message": text}` with the error's status (for a 5xx a
/// fixed message and a request id; the detail is logged).
pub fn error_response(err: &NotifyError) -> Response<Body> {
    shared::web::json_failure(err.status(), err.code(), &err.to_string()).map(Body::from)
}

/// The Lambda handler: `POST /wechat/component/notify` and `POST /wechat/authorizer/{appid}/notify`.
pub async fn handle<S: TicketStore + PushStore, A: PushActions, U: AuditStore>(
    receiver: &Receiver<S, A, U>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let query = push_query(&request);
    let path = request.uri().path().to_owned();
    let message_appid = path
        .strip_prefix("/wechat/authorizer/")
        .and_then(|rest| rest.strip_suffix("/notify"))
        .map(str::to_owned);
    let result = match &message_appid {
        Some(appid) => receiver
            .receive_message(appid, &query, request.body().as_ref())
            .await
            .map(|_| ()),
        None => receiver
            .receive(&query, request.body().as_ref())
            .await
            .map(|_| ()),
    };
    match result {
        Ok(_) => Ok(success()),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(error = %err, code = err.code(), "push not stored; WeChat will retry");
            } else {
                warn!(error = %err, code = err.code(), status = err.status().as_u16(), "push refused");
            }
            Ok(error_response(&err))
        }
    }
}
