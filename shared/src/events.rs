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
}
