//! The platform's events: what it publishes on its EventBridge bus, and what a webhook subscribes to.
//!
//! One event per accepted WeChat push (both push URLs) and per state change of the platform's own.
//! The `kind` is the EventBridge `detail-type`; the `id` is stable across WeChat's retries of a push
//! and across our redeliveries, so a consumer deduplicates on it.
//!
//! Kinds:
//! * `message.<MsgType>`: a user message on the message URL (消息与事件接收URL), e.g. `message.text`;
//! * `event.<Event>`: an event on the message URL, e.g. `event.subscribe_msg_popup_event`,
//!   `event.weapp_audit_success`;
//! * `component.<InfoType>`: a push on the authorization event URL (授权事件接收URL), e.g.
//!   `component.unauthorized`;
//! * `platform.<subject>.<change>`: the platform's own state changes (see [`PLATFORM_KINDS`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::xml::{self, Element, XmlError};

/// The EventBridge `source` of every event the platform publishes.
pub const EVENT_SOURCE: &str = "wechat-component";

/// The families of kinds. A pattern `<family>.*` subscribes to all of one family.
pub const FAMILIES: &[&str] = &["message", "event", "component", "platform"];

/// `MsgType`s of user messages a mini program or official account receives (消息推送).
pub const MESSAGE_TYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
    "miniprogrampage",
];

/// `Event`s on the message URL: the code-review results (代码审核结果推送) and every event of the
/// message-push pages a mini program receives.
pub const MESSAGE_EVENTS: &[&str] = &[
    "weapp_audit_success",
    "weapp_audit_fail",
    "weapp_audit_delay",
    "user_enter_tempsession",
    "subscribe_msg_popup_event",
    "subscribe_msg_change_event",
    "subscribe_msg_sent_event",
    "wxa_nickname_audit",
    "wxa_category_audit",
    "wxa_privacy_apply",
    "wxa_media_check",
    "wxa_appeal_record",
    "trade_manage_remind_access_api",
    "trade_manage_remind_shipping",
    "trade_manage_order_settlement",
    "user_authorization_revoke",
    "user_info_modified",
    "wxa_illegal_record",
    "wx_verify_pay_succ",
    "wx_verify_dispatch",
];

/// `InfoType`s on the authorization event URL.
pub const COMPONENT_INFO_TYPES: &[&str] = &[
    "component_verify_ticket",
    "authorized",
    "updateauthorized",
    "unauthorized",
    "notify_third_fasteregister",
    "notify_third_fastregisterbetaapp",
    "notify_third_fastverifybetaapp",
    "notify_3rd_wxa_auth",
    "notify_3rd_wxa_wxverify",
    "notify_icpfiling_verify_result",
    "notify_apply_icpfiling_result",
    "notify_3rd_wxa_auth_and_icp",
];

/// The platform's own state changes.
pub const PLATFORM_KINDS: &[&str] = &[
    "platform.authorizer.authorized",
    "platform.authorizer.unauthorized",
    "platform.authorizer.reauthorization_required",
    "platform.token_refresh.failed",
    "platform.audit.submitted",
    "platform.audit.passed",
    "platform.audit.rejected",
    "platform.audit.released",
    "platform.rollout.step",
];

/// One event as published: the EventBridge `detail`. Its `kind` is also the `detail-type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformEvent {
    /// Stable across WeChat's retries and our redeliveries.
    pub id: String,
    pub kind: String,
    /// The authorizer the event concerns; none for component-wide events (e.g. a ticket).
    pub appid: Option<String>,
    /// WeChat's `CreateTime` for a push; when the change happened for the platform's own events.
    pub create_time: i64,
    /// The parsed fields, as JSON. Credentials a push carries (tickets, authorization codes) are
    /// never in them.
    pub fields: serde_json::Value,
}

/// The kind of a message-URL push: `message.<MsgType>`, or `event.<Event>` for `MsgType=event`.
/// Lower-cased, since WeChat's own casing of events varies between pages.
pub fn message_kind(msg_type: &str, event: Option<&str>) -> String {
    match (msg_type, event) {
        ("event", Some(event)) => format!("event.{}", event.to_ascii_lowercase()),
        _ => format!("message.{}", msg_type.to_ascii_lowercase()),
    }
}

/// The kind of an authorization-URL push.
pub fn component_kind(info_type: &str) -> String {
    format!("component.{}", info_type.to_ascii_lowercase())
}

/// Every kind the platform knows it may publish. Unknown WeChat events are still published (as
/// `event.<name>`), but a subscription names a known kind or a family.
pub fn known_kinds() -> impl Iterator<Item = String> {
    let messages = MESSAGE_TYPES.iter().map(|t| format!("message.{t}"));
    let events = MESSAGE_EVENTS.iter().map(|e| format!("event.{e}"));
    let component = COMPONENT_INFO_TYPES
        .iter()
        .map(|i| format!("component.{i}"));
    let platform = PLATFORM_KINDS.iter().map(|k| k.to_string());
    messages.chain(events).chain(component).chain(platform)
}

/// What a subscription's pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindPattern {
    /// `*`: every event.
    All,
    /// `<family>.*` (or a deeper prefix of known kinds, e.g. `platform.audit.*`): `prefix` ends with a dot.
    Prefix(String),
    /// One known kind.
    Exact(String),
}

impl KindPattern {
    /// Parses a pattern, refusing one that could never match a kind the platform publishes.
    pub fn parse(pattern: &str) -> Option<Self> {
        if pattern == "*" {
            return Some(Self::All);
        }
        if let Some(prefix) = pattern.strip_suffix('*') {
            let known = prefix.ends_with('.')
                && prefix.len() > 1
                && known_kinds().any(|kind| kind.starts_with(prefix));
            return known.then(|| Self::Prefix(prefix.to_string()));
        }
        known_kinds()
            .any(|kind| kind == pattern)
            .then(|| Self::Exact(pattern.to_string()))
    }

    pub fn matches(&self, kind: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => kind.starts_with(prefix.as_str()),
            Self::Exact(exact) => kind == exact,
        }
    }
}

/// Elements whose values are credentials: a component_verify_ticket, an authorization code (and
/// the pre-authorization code it came from), a go-live test's `QUERY_AUTH_CODE:` code. Their
/// values are replaced by [`REDACTED`] in the stored fields and XML, so that neither the table,
/// its stream, the bus nor a webhook ever carries them.
pub const REDACTED_FIELDS: &[&str] = &[
    "ComponentVerifyTicket",
    "AuthorizationCode",
    "PreAuthCode",
    "auth_code",
];

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// The go-live check's API case carries an authorization code in a text message's `Content`
/// ("全网发布接入检测说明": `QUERY_AUTH_CODE:$query_auth_code$`).
const QUERY_AUTH_CODE: &str = "QUERY_AUTH_CODE:";

/// One event as kept in the events table (the outbox): what is published, and for a push the
/// decrypted XML with its credentials redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub kind: String,
    pub appid: Option<String>,
    pub create_time: i64,
    /// When the platform stored it (our clock).
    pub received_at: i64,
    pub fields: serde_json::Value,
    /// The push as decrypted (credentials redacted); none for the platform's own events.
    pub xml: Option<String>,
}

impl StoredEvent {
    /// The EventBridge `detail`.
    pub fn detail(&self) -> PlatformEvent {
        PlatformEvent {
            id: self.id.clone(),
            kind: self.kind.clone(),
            appid: self.appid.clone(),
            create_time: self.create_time,
            fields: self.fields.clone(),
        }
    }

    /// A push to the authorization event URL: `component.<InfoType>`, about the authorizer it
    /// names (`AuthorizerAppid`, or a fast-registration result's `appid`). WeChat's own key of
    /// such a push is its InfoType and CreateTime ("授权事件接收URL").
    pub fn component_push(plaintext: &str, received_at: i64) -> Result<Self, XmlError> {
        let root = xml::parse(plaintext)?;
        let info_type = root.required("InfoType")?;
        let create_time = root.required_i64("CreateTime")?;
        let appid = non_empty(root.text_of("AuthorizerAppid")).or_else(|| {
            root.child("info")
                .and_then(|_| non_empty(root.text_of("appid")))
        });
        let key = format!("{info_type}\n{create_time}");
        Ok(Self::push(
            component_kind(info_type),
            appid,
            create_time,
            &key,
            &root,
            plaintext,
            received_at,
        ))
    }

    /// A push to the message URL of `appid`: `message.<MsgType>` or `event.<Event>`. WeChat's key
    /// of a message is its `MsgId`; of an event, `FromUserName` + `CreateTime` ("消息排重").
    pub fn message_push(appid: &str, plaintext: &str, received_at: i64) -> Result<Self, XmlError> {
        let root = xml::parse(plaintext)?;
        let msg_type = root.required("MsgType")?;
        let create_time = root.required_i64("CreateTime")?;
        let event = non_empty(root.text_of("Event"));
        let key = match non_empty(root.text_of("MsgId")) {
            Some(msg_id) => format!("msgid\n{msg_id}"),
            None => format!(
                "{}\n{create_time}",
                root.text_of("FromUserName").unwrap_or("").trim()
            ),
        };
        let kind = message_kind(msg_type.trim(), event.as_deref());
        Ok(Self::push(
            kind,
            Some(appid.to_owned()),
            create_time,
            &key,
            &root,
            plaintext,
            received_at,
        ))
    }

    /// A push as an event: its id from WeChat's key of it and the plaintext's digest (a retry is
    /// the same plaintext, however re-encrypted; two pushes with one key but different content
    /// are two events).
    fn push(
        kind: String,
        appid: Option<String>,
        create_time: i64,
        key: &str,
        root: &Element,
        plaintext: &str,
        received_at: i64,
    ) -> Self {
        let digest = hex(&Sha256::digest(plaintext.as_bytes())[..16]);
        let id = event_id(&[&kind, appid.as_deref().unwrap_or("-"), key, &digest]);
        Self {
            id,
            kind,
            appid,
            create_time,
            received_at,
            fields: fields_of(root),
            xml: Some(redact_xml(plaintext)),
        }
    }

    /// One of the platform's own state changes (a kind of [`PLATFORM_KINDS`]): its id from
    /// `key`, which names the change itself (e.g. the audit id and its new status), so that a
    /// retried write of the same change is the same event.
    pub fn platform(
        kind: &str,
        appid: Option<&str>,
        key: &str,
        at: i64,
        fields: serde_json::Value,
    ) -> Self {
        debug_assert!(PLATFORM_KINDS.contains(&kind), "{kind} is no platform kind");
        Self {
            id: event_id(&["platform", kind, appid.unwrap_or("-"), key]),
            kind: kind.to_owned(),
            appid: appid.map(str::to_owned),
            create_time: at,
            received_at: at,
            fields,
            xml: None,
        }
    }
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `evt_` and 128 bits of the SHA-256 of the parts: the same parts, the same id.
pub fn event_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    format!("evt_{}", hex(&digest[..16]))
}

fn redacted_value(name: &str, text: &str) -> Option<String> {
    if REDACTED_FIELDS.contains(&name) {
        return Some(REDACTED.to_owned());
    }
    (name == "Content" && text.trim_start().starts_with(QUERY_AUTH_CODE))
        .then(|| format!("{QUERY_AUTH_CODE}{REDACTED}"))
}

/// The children of `element` as JSON: a leaf is its text, an element with children an object,
/// a name repeated (e.g. the `List` of a subscribe-message event) an array; credentials redacted.
pub fn fields_of(element: &Element) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for child in &element.children {
        let value = if child.children.is_empty() {
            serde_json::Value::String(
                redacted_value(&child.name, &child.text).unwrap_or_else(|| child.text.clone()),
            )
        } else {
            fields_of(child)
        };
        match fields.get_mut(&child.name) {
            None => {
                fields.insert(child.name.clone(), value);
            }
            Some(serde_json::Value::Array(list)) => list.push(value),
            Some(first) => {
                let first = first.take();
                fields.insert(
                    child.name.clone(),
                    serde_json::Value::Array(vec![first, value]),
                );
            }
        }
    }
    serde_json::Value::Object(fields)
}

/// The XML with the text of every credential element replaced by [`REDACTED`] (a CDATA section).
pub fn redact_xml(plaintext: &str) -> String {
    let mut out = plaintext.to_owned();
    for name in REDACTED_FIELDS.iter().copied().chain(["Content"]) {
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| from + i + open.len()) {
            let Some(end) = out[start..].find(&close).map(|i| start + i) else {
                break;
            };
            let inner = out[start..end].trim();
            let text = inner
                .strip_prefix("<![CDATA[")
                .and_then(|t| t.strip_suffix("]]>"))
                .unwrap_or(inner);
            let replaced = match redacted_value(name, text) {
                Some(value) => format!("<![CDATA[{value}]]>"),
                None => out[start..end].to_owned(),
            };
            out.replace_range(start..end, &replaced);
            from = start + replaced.len() + close.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_pushes() {
        assert_eq!(message_kind("text", None), "message.text");
        assert_eq!(
            message_kind("event", Some("subscribe_msg_popup_event")),
            "event.subscribe_msg_popup_event"
        );
        assert_eq!(component_kind("unauthorized"), "component.unauthorized");
    }

    #[test]
    fn patterns_name_known_kinds_or_families() {
        assert_eq!(KindPattern::parse("*"), Some(KindPattern::All));
        let family = KindPattern::parse("message.*").unwrap();
        assert!(family.matches("message.text"));
        assert!(!family.matches("event.subscribe_msg_popup_event"));
        assert!(KindPattern::parse("platform.audit.*")
            .unwrap()
            .matches("platform.audit.passed"));
        assert!(KindPattern::parse("event.subscribe_msg_popup_event").is_some());
        for bad in [
            "",
            "messages.*",
            "message.nothing",
            "message*",
            ".*",
            "platform.x.*",
        ] {
            assert_eq!(KindPattern::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn pushes_become_events_with_stable_ids_and_no_credentials() {
        let text = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>";
        let a = StoredEvent::message_push("wx0000000000000001", text, 1).unwrap();
        let b = StoredEvent::message_push("wx0000000000000001", text, 2).unwrap();
        assert_eq!(a.id, b.id, "a retry is the same event");
        assert_eq!(a.kind, "message.text");
        assert_eq!(a.fields["Content"], "hi");
        assert_eq!(a.fields["MsgId"], "42");
        let other = text.replace("<Content><![CDATA[hi]]>", "<Content><![CDATA[ho]]>");
        assert_ne!(
            StoredEvent::message_push("wx0000000000000001", &other, 1)
                .unwrap()
                .id,
            a.id
        );

        let popup = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>t1</TemplateId></List><List><TemplateId>t2</TemplateId></List></SubscribeMsgPopupEvent></xml>";
        let e = StoredEvent::message_push("wx0000000000000001", popup, 1).unwrap();
        assert_eq!(e.kind, "event.subscribe_msg_popup_event");
        assert_eq!(
            e.fields["SubscribeMsgPopupEvent"]["List"][1]["TemplateId"],
            "t2"
        );

        let auth = "<xml><AppId>wxc</AppId><CreateTime>5</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid><AuthorizationCode><![CDATA[secret-code]]></AuthorizationCode><PreAuthCode>pre</PreAuthCode></xml>";
        let e = StoredEvent::component_push(auth, 1).unwrap();
        assert_eq!(e.kind, "component.authorized");
        assert_eq!(e.appid.as_deref(), Some("wxa"));
        assert_eq!(e.fields["AuthorizationCode"], REDACTED);
        let xml = e.xml.unwrap();
        assert!(
            !xml.contains("secret-code") && !xml.contains(">pre<"),
            "{xml}"
        );
        assert!(xml.contains("<AuthorizationCode><![CDATA[[redacted]]]></AuthorizationCode>"));

        let ticket = "<xml><AppId>wxc</AppId><CreateTime>5</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>";
        let e = StoredEvent::component_push(ticket, 1).unwrap();
        assert_eq!(e.appid, None);
        assert!(!e.xml.unwrap().contains("ticket@@@x"));
        assert!(!e.fields.to_string().contains("ticket@@@x"));

        let golive = text.replace(
            "<Content><![CDATA[hi]]>",
            "<Content><![CDATA[QUERY_AUTH_CODE:code123]]>",
        );
        let e = StoredEvent::message_push("wx0000000000000001", &golive, 1).unwrap();
        assert!(!e.fields.to_string().contains("code123"));
        assert!(!e.xml.unwrap().contains("code123"));
    }
}
