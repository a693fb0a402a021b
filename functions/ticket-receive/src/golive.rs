//! WeChat's go-live check on the message URL ("全网发布接入检测说明" (releases_instructions)):
//! the pushes of WeChat's test accounts ([`shared::go_live::TEST_ACCOUNTS`]) answered as the check
//! expects, every case's outcome logged and stored (the tickets table, `go_live#…`).
//!
//! * an event, and the text `TESTCOMPONENT_MSG_TYPE_TEXT`: a passive text reply (`<Event>from_callback`,
//!   `TESTCOMPONENT_MSG_TYPE_TEXT_callback`) in the encrypted reply envelope of "消息加解密技术方案";
//! * `QUERY_AUTH_CODE:<code>`: the code exchanged ("使用授权码获取授权信息" (api_query_auth), which
//!   stores the account as a flagged authorizer) and `<code>_from_api` sent to the push's sender
//!   ("客服消息" (custom/send)) with the account's token, **before** the push is answered.
//!
//! Why before answering: a Lambda function is frozen once it has answered, so work left for after
//! the answer may never run, and an asynchronous path (a queue and a consumer) would be a second
//! deployment unit for a check that runs once per release. The two WeChat calls take a fraction of
//! the 5 s WeChat waits for an answer (and of the ~10 s it waits for the message), and doing them
//! first lets a failure be answered 503, which WeChat retries. The retry must not fail because the
//! first delivery got part of the way: the authorization code is single-use, so its exchange goes
//! through the claim of `shared::authorization` (a code exchanged before answers the stored
//! authorizer, with no second api_query_auth), and the case of each push is claimed in the store
//! (keyed by the push's plaintext, which a retry repeats): a delivery that passed is not redone,
//! so the customer-service message is sent once. The one window left is a send that succeeds
//! followed by a failure to record it: the retry then sends again (WeChat's API has no
//! idempotency key); the check still passes.

use std::future::Future;

use shared::audit::MessagePush;
use shared::authorization::{AuthError, AuthorizationService, EventTime};
use shared::authorizer_token::TokenError;
use shared::code_release::{CodeError, MiniProgram};
use shared::crypto::random_prefix;
use shared::go_live::{custom_message_content, text_reply_xml, Case, CaseName, TestAccount};
use shared::store::{
    unix_now, AuditStore, AuthorizationRecords, AuthorizerStore, CaseClaim, CasePush, CaseStatus,
    GoLiveStore, NonceStore, TicketStore,
};
use shared::wechat::message::CustomSend;
use shared::wechat::WechatError;
use tracing::{info, warn};

use crate::{MessageReceipt, NotifyError, Opened, Receiver};

/// How long a delivery holds the API case: the function's timeout (template.yaml, Globals), after
/// which the delivery that claimed it has certainly ended.
const CLAIM_SECS: i64 = 10;

/// Why the API case failed.
#[derive(Debug, thiserror::Error)]
pub enum GoLiveError {
    #[error("exchanging the code (api_query_auth): {0}")]
    Exchange(#[from] AuthError),
    #[error("the code belongs to {found}, not to the test account {expected}")]
    WrongAccount { expected: String, found: String },
    #[error("sending the customer-service message (custom/send): {0}")]
    Send(#[from] CodeError),
}

impl GoLiveError {
    /// Worth WeChat's retry: our storage, or WeChat busy or unreachable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Exchange(e) => e.is_transient(),
            Self::WrongAccount { .. } => false,
            Self::Send(CodeError::Wechat(e)) => e.is_transient(),
            Self::Send(CodeError::Store(_) | CodeError::Token(TokenError::Store(_))) => true,
            Self::Send(CodeError::Component(e)) => e.wechat().is_none_or(WechatError::is_transient),
            Self::Send(_) => false,
        }
    }
}

/// The API case's work: what ticket-receive needs of the authorization service.
pub trait GoLiveActions {
    /// Exchanges `code` (once, whatever the retries) for the test account `appid` and sends
    /// `<code>_from_api` to `touser` with its token; answers what was done.
    fn query_auth_code(
        &self,
        appid: &str,
        code: &str,
        create_time: i64,
        touser: &str,
    ) -> impl Future<Output = Result<String, GoLiveError>> + Send;
}

impl<S, A> GoLiveActions for AuthorizationService<S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    async fn query_auth_code(
        &self,
        appid: &str,
        code: &str,
        create_time: i64,
        touser: &str,
    ) -> Result<String, GoLiveError> {
        let done = self.complete(code, EventTime::Pushed(create_time)).await?;
        let authorizer = done.authorizer;
        if authorizer.appid != appid {
            return Err(GoLiveError::WrongAccount {
                expected: appid.to_owned(),
                found: authorizer.appid,
            });
        }
        // The token the exchange just stored; a stale one is refreshed by the token source.
        let first = authorizer
            .access_token
            .filter(|_| authorizer.access_token_expires_at > Some(unix_now() + 60));
        let content = custom_message_content(code);
        let source = MiniProgram::new(self, appid, first);
        shared::wechat::call(&source, &CustomSend::text(touser, &content)).await?;
        let exchange = if done.exchanged_now {
            "code exchanged (api_query_auth)"
        } else {
            "code already exchanged by an earlier delivery"
        };
        Ok(format!(
            "{exchange}; customer-service message <code>_from_api sent to {touser}"
        ))
    }
}

impl<S, A, U, Z> Receiver<S, A, U, Z>
where
    S: TicketStore + NonceStore + GoLiveStore,
    A: GoLiveActions,
    U: AuditStore,
    Z: AuthorizerStore,
{
    /// A push to a test account's message URL, already verified, addressed to it and claimed.
    pub(crate) async fn go_live(
        &self,
        account: &TestAccount,
        push: &MessagePush,
        opened: &Opened<'_>,
    ) -> Result<MessageReceipt, NotifyError> {
        let Some(case) = Case::of(&push.kind) else {
            let (msg_type, event) = push.kind.describe();
            info!(
                appid = account.appid,
                msg_type,
                event = event.unwrap_or("-"),
                "test account message acknowledged (no go-live case)"
            );
            return Ok(MessageReceipt::Ignored);
        };
        let key = CasePush {
            component_appid: self.crypto.appid(),
            appid: account.appid,
            case: case.name(),
            plaintext: &opened.plaintext,
        };
        match case {
            Case::Reply { name, content } => {
                let now = unix_now();
                let xml = text_reply_xml(&push.from_user_name, &push.to_user_name, now, &content);
                let reply = self
                    .crypto
                    .reply_envelope(
                        opened.key,
                        &random_prefix(),
                        &xml,
                        &now.to_string(),
                        opened.nonce,
                    )
                    .map_err(NotifyError::Reply)?;
                let detail = format!("answered the encrypted passive text reply `{content}`");
                self.record_case(&key, CaseStatus::Passed, &detail).await?;
                Ok(MessageReceipt::GoLive {
                    case: name,
                    reply: Some(reply),
                })
            }
            Case::QueryAuthCode { code } => {
                let now = unix_now();
                let receipt = MessageReceipt::GoLive {
                    case: CaseName::QueryAuthCode,
                    reply: None,
                };
                match self
                    .store
                    .claim_go_live_case(&key, now, now + CLAIM_SECS)
                    .await?
                {
                    CaseClaim::Claimed => {}
                    CaseClaim::AlreadyPassed => {
                        info!(
                            appid = account.appid,
                            case = key.case.as_str(),
                            "go-live case already passed (WeChat's retry): nothing redone"
                        );
                        return Ok(receipt);
                    }
                    CaseClaim::Busy => return Err(NotifyError::GoLiveBusy),
                }
                let done = self
                    .actions
                    .query_auth_code(account.appid, &code, push.create_time, &push.from_user_name)
                    .await;
                match done {
                    Ok(detail) => {
                        self.record_case(&key, CaseStatus::Passed, &detail).await?;
                        Ok(receipt)
                    }
                    Err(e) => {
                        self.record_case(&key, CaseStatus::Failed, &e.to_string())
                            .await?;
                        // WeChat's retry can only help when the failure is ours or WeChat's
                        // passing trouble; an invalid code stays invalid.
                        if e.is_transient() {
                            Err(NotifyError::GoLive(e))
                        } else {
                            Ok(receipt)
                        }
                    }
                }
            }
        }
    }

    /// Stores a case's outcome and logs it.
    async fn record_case(
        &self,
        key: &CasePush<'_>,
        status: CaseStatus,
        detail: &str,
    ) -> Result<(), NotifyError> {
        let (appid, case) = (key.appid, key.case.as_str());
        if status == CaseStatus::Passed {
            info!(
                appid,
                case,
                status = status.as_str(),
                detail,
                "go-live case"
            );
        } else {
            warn!(
                appid,
                case,
                status = status.as_str(),
                detail,
                "go-live case"
            );
        }
        self.store
            .record_go_live_case(key, status, detail, unix_now())
            .await?;
        Ok(())
    }
}
