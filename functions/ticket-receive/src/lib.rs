//! The authorization event URL (`POST /wechat/component/notify`) and the message URL
//! (`POST /wechat/authorizer/{appid}/notify`).
//!
//! Verifies `msg_signature`, refuses a `timestamp` outside the replay window, decrypts with the
//! component key (or the previous key after a rotation), checks the push is addressed to us (the
//! component appid; on the message URL, the mini program's original id), bounds its `CreateTime`,
//! refuses a nonce already used by another push, then stores the push durably before answering
//! `success`. A storage failure is answered 503 so that WeChat retries; bad input gets a 4xx JSON
//! error and nothing is stored. The pushes of WeChat's go-live test accounts are answered as its
//! go-live check expects ([`golive`]).

pub mod golive;
pub mod onboarding;

use golive::{GoLiveActions, GoLiveError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::audit::{MessageKind, MessagePush};
use shared::authorization::{AuthError, AuthorizationService, PushAction, PushActions};
use shared::config::{whole_number, ConfigError};
use shared::crypto::{CryptoError, KeyUsed, MessageCrypto};
use shared::events::StoredEvent;
use shared::platform::Platform;
use shared::push::{
    is_future_dated, Addressee, AuthorizationEvent, AuthorizationPush, Envelope,
    MAX_FUTURE_SKEW_SECS, MAX_PUSH_BYTES, MAX_PUSH_DELAY_SECS,
};
use shared::queue::{SqsQueue, StepQueue};
use shared::rollout::StepMessage;
use shared::store::rollouts::DynamoRolloutStore;
use shared::store::{
    record_audit_event, unix_now, AuditStore, AuthorizerStore, DynamoAuditStore,
    DynamoAuthorizerStore, DynamoEventStore, DynamoTicketStore, EventStatus, GoLiveStore,
    NonceOutcome, NonceStore, PushNonce, PushOutcome, StatusChange, StoreError, TicketOutcome,
    TicketStore, VerifyTicket,
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
    #[error("timestamp is not Unix seconds")]
    BadTimestamp,
    #[error("timestamp is {skew_secs} s from now, outside the replay window of ±{window_secs} s")]
    StaleTimestamp { skew_secs: i64, window_secs: i64 },
    #[error("nonce was already used by another push")]
    ReplayedNonce,
    #[error("CreateTime {create_time} is more than {MAX_FUTURE_SKEW_SECS} s ahead of now or more than {MAX_PUSH_DELAY_SECS} s before the signed timestamp")]
    BadCreateTime { create_time: i64 },
    #[error("no authorized mini program {0} on record")]
    UnknownAuthorizer(String),
    #[error("ToUserName is not the original id of the mini program in the path")]
    WrongAddressee,
    #[error("cannot decrypt: {0}")]
    Undecryptable(CryptoError),
    #[error("decrypted push: {0}")]
    BadPush(XmlError),
    #[error("storage unavailable: {0}")]
    Storage(#[from] StoreError),
    #[error("stored, but acting on it failed; retry: {0}")]
    Action(#[from] AuthError),
    #[error("the rollout queue is unavailable: {0}")]
    Queue(String),
    #[error("the go-live check's API case failed; retry: {0}")]
    GoLive(GoLiveError),
    #[error("another delivery of this push is working on its go-live case; retry")]
    GoLiveBusy,
    #[error("cannot encrypt the passive reply: {0}")]
    Reply(CryptoError),
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
            | Self::BadPush(_)
            | Self::BadTimestamp
            | Self::BadCreateTime { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadSignature | Self::StaleTimestamp { .. } | Self::ReplayedNonce => {
                StatusCode::UNAUTHORIZED
            }
            Self::ForeignAppId | Self::WrongAddressee => StatusCode::FORBIDDEN,
            Self::UnknownAuthorizer(_) => StatusCode::NOT_FOUND,
            Self::Storage(_)
            | Self::Action(_)
            | Self::GoLive(_)
            | Self::GoLiveBusy
            | Self::Queue(_)
            | Self::Reply(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::BadTimestamp => "bad_timestamp",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::ReplayedNonce => "replayed_nonce",
            Self::BadCreateTime { .. } => "bad_create_time",
            Self::UnknownAuthorizer(_) => "unknown_authorizer",
            Self::WrongAddressee => "wrong_addressee",
            Self::Undecryptable(_) => "undecryptable",
            Self::BadPush(_) => "bad_push",
            Self::Storage(_) => "storage_unavailable",
            Self::Action(_) | Self::GoLive(_) | Self::Reply(_) => "action_failed",
            Self::GoLiveBusy => "in_progress",
            Self::Queue(_) => "queue_unavailable",
        }
    }
}

/// The query WeChat sends with a push ("消息加解密技术方案").
#[derive(Debug, Clone, Default)]
pub struct PushQuery {
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub msg_signature: Option<String>,
    pub encrypt_type: Option<String>,
}

/// The receiver's settings, from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveSettings {
    /// How far a push's signed `timestamp` may be from our clock, either way
    /// (`PUSH_TIMESTAMP_WINDOW_SECS`). WeChat signs when it sends and retries within seconds
    /// with the same request, so minutes cover retries and clock skew; older is a replay.
    pub timestamp_window_secs: i64,
}

impl Default for ReceiveSettings {
    fn default() -> Self {
        Self {
            timestamp_window_secs: 300,
        }
    }
}

impl ReceiveSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            timestamp_window_secs: whole_number(
                &get,
                "PUSH_TIMESTAMP_WINDOW_SECS",
                default.timestamp_window_secs,
                30,
            )?,
        })
    }
}

/// A push whose signature has been verified and whose ciphertext has been opened.
struct Opened<'q> {
    plaintext: String,
    timestamp: i64,
    nonce: &'q str,
    msg_signature: &'q str,
    /// The key that opened it: a passive reply is encrypted with the same one.
    key: KeyUsed,
}

/// The path of the authorization event URL (the message URL's is [`message_url`]).
pub const COMPONENT_URL: &str = "/wechat/component/notify";

pub fn message_url(appid: &str) -> String {
    format!("/wechat/authorizer/{appid}/notify")
}

/// What was done with a message-URL push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageReceipt {
    /// The latest audit moved forward (`applied`), or not: already there or further, or the
    /// result is dated before the audit's submission.
    Audit {
        auditid: i64,
        applied: bool,
    },
    NoAudit,
    Ignored,
    /// A go-live check case of a test account: the encrypted passive reply to answer with, if
    /// the case has one (else `success`).
    GoLive {
        case: shared::go_live::CaseName,
        reply: Option<String>,
    },
    /// A name or category review result, stored for the mini program's onboarding.
    Onboarding,
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
pub struct Receiver<S, A, U, Z> {
    crypto: MessageCrypto,
    store: S,
    /// Every accepted push, kept as an event before it is answered (the outbox the publisher
    /// reads through the table's stream).
    events: DynamoEventStore,
    actions: A,
    audits: U,
    authorizers: Z,
    settings: ReceiveSettings,
    /// Review results of mini programs in a rollout send the rollout's next step.
    rollouts: Option<RolloutHook>,
    /// Where the onboarding pushes go ([`onboarding`]).
    onboardings: Option<shared::store::onboardings::DynamoOnboardingStore>,
}

/// Where a review result for a mini program in a rollout is handed on: the rollout's lock tells
/// which rollout, the queue takes its next step.
pub struct RolloutHook {
    pub store: DynamoRolloutStore,
    pub queue: SqsQueue,
}

impl<S, A, U, Z> Receiver<S, A, U, Z> {
    /// With the default settings.
    pub fn new(
        crypto: MessageCrypto,
        (store, events): (S, DynamoEventStore),
        actions: A,
        audits: U,
        authorizers: Z,
    ) -> Self {
        Self {
            crypto,
            store,
            events,
            actions,
            audits,
            authorizers,
            settings: ReceiveSettings::default(),
            rollouts: None,
            onboardings: None,
        }
    }

    pub fn with_onboardings(
        self,
        onboardings: Option<shared::store::onboardings::DynamoOnboardingStore>,
    ) -> Self {
        Self {
            onboardings,
            ..self
        }
    }

    pub fn with_rollouts(self, rollouts: Option<RolloutHook>) -> Self {
        Self { rollouts, ..self }
    }

    pub fn with_settings(self, settings: ReceiveSettings) -> Self {
        Self { settings, ..self }
    }
}

/// The production receiver: DynamoDB and the authorization service.
pub type PlatformReceiver = Receiver<
    DynamoTicketStore,
    AuthorizationService<DynamoTicketStore, DynamoAuthorizerStore>,
    DynamoAuditStore,
    DynamoAuthorizerStore,
>;

impl PlatformReceiver {
    /// With the default settings.
    pub fn from_platform(platform: &Platform) -> Result<Self, ConfigError> {
        Ok(Self::new(
            platform.config.message_crypto()?,
            (platform.ticket_store(), platform.event_store()),
            platform.authorization_service(),
            DynamoAuditStore::new(platform.dynamo.clone(), &platform.tables.audits),
            platform.authorizer_store(),
        )
        .with_rollouts(platform.rollout_queue().map(|queue| RolloutHook {
            store: platform.rollout_store(),
            queue,
        }))
        .with_onboardings(Some(platform.onboarding_store())))
    }

    /// Reads the configuration (env or Secrets Manager) and builds the clients once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = ReceiveSettings::from_lookup(|name| std::env::var(name).ok())?;
        Ok(Self::from_platform(&Platform::from_env().await?)?.with_settings(settings))
    }
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, NotifyError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(NotifyError::MissingParameter(name))
}

/// A push's `CreateTime` may be neither far ahead of our clock (it would win every later
/// comparison: a frozen ticket) nor far older than its signed timestamp (WeChat sends at once).
fn check_create_time(create_time: i64, timestamp: i64, now: i64) -> Result<(), NotifyError> {
    if is_future_dated(create_time, now)
        || create_time < timestamp.saturating_sub(MAX_PUSH_DELAY_SECS)
    {
        return Err(NotifyError::BadCreateTime { create_time });
    }
    Ok(())
}

impl<S, A, U, Z> Receiver<S, A, U, Z>
where
    S: TicketStore + NonceStore + GoLiveStore,
    A: PushActions + GoLiveActions,
    U: AuditStore,
    Z: AuthorizerStore,
{
    /// Checks the query and the envelope, verifies `msg_signature`, bounds the signed `timestamp`
    /// and decrypts (the trailer must be the component appid, on both URLs: "消息加解密技术方案").
    fn open<'q>(
        &self,
        query: &'q PushQuery,
        body: &[u8],
        component_url: bool,
        now: i64,
    ) -> Result<Opened<'q>, NotifyError> {
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
        // The replay window: a signed push captured earlier is refused once its timestamp is old.
        let timestamp: i64 = timestamp.parse().map_err(|_| NotifyError::BadTimestamp)?;
        let skew_secs = timestamp.saturating_sub(now);
        if skew_secs.unsigned_abs() > self.settings.timestamp_window_secs.unsigned_abs() {
            return Err(NotifyError::StaleTimestamp {
                skew_secs,
                window_secs: self.settings.timestamp_window_secs,
            });
        }
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
        Ok(Opened {
            plaintext,
            timestamp,
            nonce,
            msg_signature,
            key,
        })
    }

    /// Records the push's nonce, the last check before anything is stored: the same nonce with
    /// another msg_signature, or on another URL, within the window is a replay; the same request
    /// again is WeChat's retry and goes on (everything after is idempotent).
    async fn claim_nonce(
        &self,
        url: &str,
        opened: &Opened<'_>,
        now: i64,
    ) -> Result<(), NotifyError> {
        let nonce = PushNonce {
            component_appid: self.crypto.appid(),
            nonce: opened.nonce,
            msg_signature: opened.msg_signature,
            url,
            now,
            purge_at: opened
                .timestamp
                .saturating_add(self.settings.timestamp_window_secs),
        };
        match self.store.claim_nonce(&nonce).await? {
            NonceOutcome::Reused => Err(NotifyError::ReplayedNonce),
            NonceOutcome::Retry => {
                info!(url, "the same push again (WeChat's retry)");
                Ok(())
            }
            NonceOutcome::First => Ok(()),
        }
    }

    /// Verifies, decrypts, parses and stores one push to the authorization event URL.
    pub async fn receive(&self, query: &PushQuery, body: &[u8]) -> Result<Receipt, NotifyError> {
        let now = unix_now();
        let opened = self.open(query, body, true, now)?;
        let push = AuthorizationPush::parse(&opened.plaintext).map_err(NotifyError::BadPush)?;
        if push.component_appid != self.crypto.appid() {
            return Err(NotifyError::ForeignAppId);
        }
        check_create_time(push.create_time, opened.timestamp, now)?;
        self.claim_nonce(COMPONENT_URL, &opened, now).await?;
        let onboardings = self.onboardings.as_ref();
        onboarding::component_push(onboardings, &opened.plaintext, push.create_time).await?;
        let event =
            StoredEvent::component_push(&opened.plaintext, now).map_err(NotifyError::BadPush)?;
        let outcome = self.keep(&event).await?;
        self.store_push(push, &event, outcome).await
    }

    /// A push to a mini program's message URL (`$APPID$` = `appid`), which must be addressed to
    /// that mini program (the path is not signed): review results move its latest audit forward
    /// (never backwards, never with a result older than the submission); other messages are
    /// logged. A go-live test account's pushes are addressed by its known original id (it may
    /// not be stored yet) and answered by [`golive`].
    pub async fn receive_message(
        &self,
        appid: &str,
        query: &PushQuery,
        body: &[u8],
    ) -> Result<MessageReceipt, NotifyError> {
        if !is_appid(appid) {
            return Err(NotifyError::BadAppid);
        }
        let now = unix_now();
        let opened = self.open(query, body, false, now)?;
        let push = MessagePush::parse(&opened.plaintext).map_err(NotifyError::BadPush)?;
        let test_account = shared::go_live::test_account(appid);
        let original_id = match test_account {
            Some(account) => account.original_id.to_owned(),
            None => {
                self.authorizers
                    .authorizer(appid)
                    .await?
                    .ok_or_else(|| NotifyError::UnknownAuthorizer(appid.to_owned()))?
                    .user_name
            }
        };
        // An authorizer restored without its details has no original id: nothing to match, so
        // refused; code-admin's sync with WeChat catches the result up.
        if original_id.is_empty() || original_id != push.to_user_name {
            return Err(NotifyError::WrongAddressee);
        }
        check_create_time(push.create_time, opened.timestamp, now)?;
        self.claim_nonce(&message_url(appid), &opened, now).await?;
        let stored = StoredEvent::message_push(appid, &opened.plaintext, now)
            .map_err(NotifyError::BadPush)?;
        self.keep(&stored).await?;
        if let Some(account) = test_account {
            return self.go_live(account, &push, &opened).await;
        }
        let onboardings = self.onboardings.as_ref();
        if onboarding::message_push(onboardings, appid, &opened.plaintext, push.create_time).await?
        {
            return Ok(MessageReceipt::Onboarding);
        }
        let event = match push.kind {
            MessageKind::Audit(event) => event,
            other => {
                let (msg_type, event) = other.describe();
                info!(
                    appid,
                    msg_type,
                    event = event.unwrap_or("-"),
                    id = %stored.id,
                    "message push stored as an event"
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
        // The platform's event of the result: written when applied, and again on WeChat's retry
        // of a push whose event write failed (the audit already shows the result; the event id
        // is the same, so a write that had succeeded changes nothing).
        if applied || audit.status == change.status {
            record_audit_event(
                &self.events,
                appid,
                audit.auditid,
                change.status,
                change.reason.as_deref(),
            )
            .await?;
        }
        // Answered only once the rollout's next step is queued (a retry queues it again: the
        // step is idempotent), so a result is never lost between here and the rollout.
        if let Some(hook) = &self.rollouts {
            if let Some(rollout_id) = hook.store.lock_holder(appid).await? {
                let message = StepMessage::new(&rollout_id, appid);
                hook.queue
                    .send(&message.body(), 0)
                    .await
                    .map_err(|e| NotifyError::Queue(e.to_string()))?;
                info!(
                    appid,
                    rollout = rollout_id,
                    "rollout step queued for the review result"
                );
            }
        }
        Ok(MessageReceipt::Audit {
            auditid: audit.auditid,
            applied,
        })
    }

    /// Stores the push as an event (once: WeChat's retry is the same item), before anything acts
    /// on it or answers it.
    async fn keep(&self, event: &StoredEvent) -> Result<PushOutcome, NotifyError> {
        let outcome = self.events.record(event).await?;
        info!(kind = %event.kind, id = %event.id, ?outcome, "push stored as an event");
        Ok(outcome)
    }

    async fn store_push(
        &self,
        push: AuthorizationPush,
        event: &StoredEvent,
        outcome: PushOutcome,
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
        info!(
            info_type = %push.info_type,
            authorizer_appid = push.authorizer_appid().unwrap_or("-"),
            create_time = push.create_time,
            ?outcome,
            "authorization push stored"
        );
        // Stored first, acted on second: a retried push acts again (the actions are idempotent).
        let action = self.actions.act_on_push(&push).await?;
        if let PushAction::Failed { reason } = &action {
            tracing::error!(info_type = %push.info_type, reason, "push stored but cannot be acted on");
            self.events
                .set_status(&event.id, EventStatus::Failed, Some(reason))
                .await?;
        } else {
            info!(info_type = %push.info_type, ?action, "push acted on");
            self.events
                .set_status(&event.id, EventStatus::Processed, None)
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

/// Answers WeChat with a passive reply (the encrypted envelope).
pub fn passive_reply(envelope: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/xml; charset=utf-8")
        .body(Body::from(envelope))
        .expect("static response")
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
pub async fn handle<S, A, U, Z>(
    receiver: &Receiver<S, A, U, Z>,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: TicketStore + NonceStore + GoLiveStore,
    A: PushActions + GoLiveActions,
    U: AuditStore,
    Z: AuthorizerStore,
{
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
            .map(|receipt| match receipt {
                MessageReceipt::GoLive { reply, .. } => reply,
                _ => None,
            }),
        None => receiver
            .receive(&query, request.body().as_ref())
            .await
            .map(|_| None),
    };
    match result {
        Ok(Some(reply)) => Ok(passive_reply(reply)),
        Ok(None) => Ok(success()),
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
