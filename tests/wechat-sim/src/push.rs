//! Pushes to the platform's two URLs, encrypted with the official scheme (WeChat's "消息加解密技术方案" (Technical_Plan), "授权事件接收URL" (authorize_event), "代码审核结果推送" (audit_event)),
//! retried like WeChat: a push not answered `success` in time is sent again, up to `retries` times.

use std::time::Duration;

use shared::push::{component_envelope_xml, message_envelope_xml, verify_ticket_xml};

use crate::state::{random_id, Delivery};
use crate::Sim;

/// Who a push is addressed to.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// The authorization event URL.
    Component,
    /// The message URL of one mini program (`$APPID$` replaced).
    MiniProgram { appid: String, original_id: String },
}

/// `<name><![CDATA[value]]></name>` for each field.
pub fn cdata_elements(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("<{name}><![CDATA[{value}]]></{name}>"))
        .collect()
}

impl Sim {
    /// Pushes a fresh component_verify_ticket now and remembers it (valid 12 h); returns it.
    pub fn push_ticket(&self) -> String {
        let (ticket, xml) = self.new_ticket();
        self.send(Recipient::Component, "component_verify_ticket", xml);
        ticket
    }

    /// A fresh component_verify_ticket, remembered (valid 12 h): it and its push's plaintext.
    pub(crate) fn new_ticket(&self) -> (String, String) {
        let ticket = format!("ticket@@@{}", random_id(""));
        let (appid, now) = {
            let mut state = self.state();
            let now = state.now();
            state.tickets.insert(ticket.clone(), now);
            (state.config.component.appid.clone(), now)
        };
        let xml = verify_ticket_xml(&appid, now, &ticket);
        (ticket, xml)
    }

    /// Pushes an authorization event (authorized, updateauthorized, unauthorized) about `authorizer`.
    pub fn push_authorization_event(
        &self,
        info_type: &str,
        authorizer: &str,
        auth_code: Option<(&str, i64)>,
    ) {
        let xml = self.authorization_event_xml(info_type, authorizer, auth_code);
        self.send(Recipient::Component, info_type, xml);
    }

    /// The plaintext of an authorization event about `authorizer`, with its authorization code
    /// and the code's expiry, if any.
    pub fn authorization_event_xml(
        &self,
        info_type: &str,
        authorizer: &str,
        auth_code: Option<(&str, i64)>,
    ) -> String {
        let (appid, now) = {
            let state = self.state();
            (state.config.component.appid.clone(), state.now())
        };
        let mut xml = format!(
            "<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[{info_type}]]></InfoType><AuthorizerAppid><![CDATA[{authorizer}]]></AuthorizerAppid>"
        );
        if let Some((code, expires_at)) = auth_code {
            xml.push_str(&format!(
                "<AuthorizationCode><![CDATA[{code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{expires_at}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[{}]]></PreAuthCode>",
                random_id("preauthcode@@@")
            ));
        }
        xml.push_str("</xml>");
        xml
    }

    /// Pushes a code-review event (weapp_audit_success / fail / delay) to a mini program's URL.
    pub fn push_audit_event(&self, appid: &str, event: &str, fields: &[(&str, String)]) {
        self.push_mini_program_event(appid, event, &cdata_elements(fields));
    }

    /// Pushes an event to a mini program's URL, `inner` (XML elements) after `Event`.
    pub fn push_mini_program_event(&self, appid: &str, event: &str, inner: &str) {
        let (original_id, now) = {
            let state = self.state();
            let original_id = state
                .mini_program(appid)
                .map(|m| m.original_id.clone())
                .unwrap_or_default();
            (original_id, state.now())
        };
        let mut xml = format!(
            "<xml><ToUserName><![CDATA[{original_id}]]></ToUserName><FromUserName><![CDATA[o-system-weapp-audit]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        );
        xml.push_str(inner);
        xml.push_str("</xml>");
        self.send(
            Recipient::MiniProgram {
                appid: appid.to_owned(),
                original_id,
            },
            event,
            xml,
        );
    }

    /// Encrypts and delivers in the background; the delivery is logged in the state.
    pub(crate) fn send(&self, recipient: Recipient, kind: &str, plaintext: String) {
        let Some(prepared) = self.prepare(&recipient, &plaintext, "o-system-weapp-audit") else {
            tracing::debug!(kind, "no push URL configured; push not sent");
            return;
        };
        let settings = self.state().config.push.clone();
        let id = self.log_delivery(&prepared, kind);
        let sim = self.clone();
        tokio::spawn(async move {
            for attempt in 0..=settings.retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(settings.retry_delay_ms)).await;
                }
                let answer = sim.post_once(&prepared, id, attempt).await;
                if answer.acknowledged() {
                    return;
                }
            }
            tracing::warn!(
                url = prepared.url,
                "push not acknowledged after all retries"
            );
        });
    }

    /// The push of `plaintext` to `recipient` as WeChat posts it: its URL (None when none is
    /// configured), the signed query (`openid` on the message URL) and the encrypted envelope.
    pub(crate) fn prepare(
        &self,
        recipient: &Recipient,
        plaintext: &str,
        openid: &str,
    ) -> Option<PreparedPush> {
        let url = {
            let state = self.state();
            let push = &state.config.push;
            match recipient {
                Recipient::Component => push.authorization_event_url.clone(),
                Recipient::MiniProgram { appid, .. } => push
                    .message_url
                    .as_ref()
                    .map(|u| u.replace("$APPID$", appid)),
            }
        }?;
        let crypto = self.crypto();
        let encrypt = crypto
            .encrypt(plaintext)
            .expect("simulator messages are small");
        let timestamp = self.state().now().to_string();
        let nonce = random_id("").chars().take(10).collect::<String>();
        let (body, appid, mut query) = match recipient {
            Recipient::Component => (
                component_envelope_xml(crypto.appid(), &encrypt),
                None,
                Vec::new(),
            ),
            Recipient::MiniProgram { appid, original_id } => (
                message_envelope_xml(original_id, &encrypt),
                Some(appid.clone()),
                vec![("openid".to_owned(), openid.to_owned())],
            ),
        };
        query.extend([
            ("signature".to_owned(), crypto.signature(&timestamp, &nonce)),
            ("timestamp".to_owned(), timestamp.clone()),
            ("nonce".to_owned(), nonce.clone()),
            ("encrypt_type".to_owned(), "aes".to_owned()),
            (
                "msg_signature".to_owned(),
                crypto.msg_signature(&timestamp, &nonce, &encrypt),
            ),
        ]);
        Some(PreparedPush {
            url,
            appid,
            query,
            body,
        })
    }

    /// Logs a delivery of `prepared` (`/sim/pushes`); answers its id.
    pub(crate) fn log_delivery(&self, prepared: &PreparedPush, kind: &str) -> u64 {
        let mut state = self.state();
        let id = state.deliveries.len() as u64 + 1;
        state.deliveries.push(Delivery {
            id,
            url: prepared.url.clone(),
            kind: kind.to_owned(),
            appid: prepared.appid.clone(),
            attempts: 0,
            delivered: false,
            last_status: None,
            last_error: None,
        });
        id
    }

    /// One attempt of delivery `id`, within the push timeout; its answer is logged.
    pub(crate) async fn post_once(&self, prepared: &PreparedPush, id: u64, attempt: u32) -> Answer {
        let timeout = self.state().config.push.timeout_ms;
        let result = self
            .http()
            .post(&prepared.url)
            .query(&prepared.query)
            .header("content-type", "text/xml")
            .body(prepared.body.clone())
            .timeout(Duration::from_millis(timeout))
            .send()
            .await;
        let answer = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                Answer {
                    status: Some(status),
                    body: response.text().await.unwrap_or_default(),
                    error: None,
                }
            }
            Err(e) => Answer {
                status: None,
                body: String::new(),
                error: Some(e.to_string()),
            },
        };
        let mut state = self.state();
        let delivery = &mut state.deliveries[(id - 1) as usize];
        delivery.attempts = attempt + 1;
        delivery.delivered = answer.acknowledged();
        delivery.last_status = answer.status;
        delivery.last_error = answer.error.clone();
        answer
    }
}

/// A push ready to be posted.
#[derive(Debug, Clone)]
pub(crate) struct PreparedPush {
    pub url: String,
    pub appid: Option<String>,
    pub query: Vec<(String, String)>,
    pub body: String,
}

/// How the platform answered one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// None: no HTTP answer (timeout, refused connection).
    pub status: Option<u16>,
    pub body: String,
    pub error: Option<String>,
}

impl Answer {
    /// HTTP 200 with `success` or nothing: WeChat's acknowledgement.
    pub fn acknowledged(&self) -> bool {
        self.status == Some(200) && matches!(self.body.trim(), "success" | "")
    }
}
