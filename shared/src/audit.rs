//! Code reviews (audits) of a mini program ("提交代码审核" (submit_audit), "查询审核单状态" (get_auditstatus), "代码审核结果推送" (audit_event)): their states and the
//! transitions a late or repeated pushed result may not undo (WeChat's own answer to
//! get_auditstatus / get_latest_auditstatus may: it is authoritative).

use crate::xml::{self, XmlError};

/// An audit's state: WeChat's 0–4, plus released (ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStatus {
    Pending,
    Delayed,
    Passed,
    Rejected,
    Withdrawn,
    Released,
}

impl AuditStatus {
    /// From WeChat's `status` (0 passed, 1 rejected, 2 under review, 3 withdrawn, 4 delayed).
    pub fn from_wechat(status: i64) -> Option<Self> {
        match status {
            0 => Some(Self::Passed),
            1 => Some(Self::Rejected),
            2 => Some(Self::Pending),
            3 => Some(Self::Withdrawn),
            4 => Some(Self::Delayed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delayed => "delayed",
            Self::Passed => "passed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Released => "released",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delayed,
            Self::Passed,
            Self::Rejected,
            Self::Withdrawn,
            Self::Released,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Pushed results only go up this order (pending → delayed → a result → released), or within a
    /// rank to a later result.
    pub fn rank(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Delayed => 1,
            Self::Passed | Self::Rejected | Self::Withdrawn => 2,
            Self::Released => 3,
        }
    }

    /// A review still running: no new submission, no release.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Delayed)
    }
}

/// A review result pushed to the message URL ("代码审核结果推送" (audit_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub status: AuditStatus,
    pub reason: Option<String>,
    pub screenshot: Option<String>,
    /// SuccTime / FailTime / DelayTime (CreateTime when absent).
    pub at: i64,
}

/// What a message-URL push carries, by `MsgType` (and `Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    Audit(AuditEvent),
    /// `MsgType=text` (a user's message; the go-live check's cases 3 and 4).
    Text {
        content: String,
    },
    /// `MsgType=event` other than a review result (`LOCATION`, `subscribe`, …; the go-live
    /// check's case 2).
    Event {
        event: String,
    },
    /// Any other `MsgType` (image, miniprogrampage, …): logged and acknowledged.
    Other {
        msg_type: String,
    },
}

impl MessageKind {
    /// The push's `MsgType` and `Event` (if any), for the log.
    pub fn describe(&self) -> (&str, Option<&str>) {
        match self {
            Self::Audit(_) => ("event", Some("weapp_audit_*")),
            Self::Text { .. } => ("text", None),
            Self::Event { event } => ("event", Some(event)),
            Self::Other { msg_type } => (msg_type, None),
        }
    }
}

/// A decrypted push to the message URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePush {
    /// The account's original id (`gh_…`, the authorizer's `user_name`) it is addressed to.
    pub to_user_name: String,
    /// Who sent it: a user's OpenID, or a system one (empty when absent).
    pub from_user_name: String,
    pub create_time: i64,
    pub kind: MessageKind,
}

impl MessagePush {
    pub fn parse(plaintext: &str) -> Result<Self, XmlError> {
        let doc = xml::parse(plaintext)?;
        let to_user_name = doc.required("ToUserName")?.to_owned();
        let from_user_name = doc.text_of("FromUserName").unwrap_or("").trim().to_owned();
        let create_time = doc.required_i64("CreateTime")?;
        let msg_type = doc.required("MsgType")?.trim().to_owned();
        let text = |name: &str| {
            doc.text_of(name)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let push = |kind| Self {
            to_user_name: to_user_name.clone(),
            from_user_name: from_user_name.clone(),
            create_time,
            kind,
        };
        let event = match msg_type.as_str() {
            // The content as sent: only the go-live check reads it, and compares it exactly.
            "text" => {
                let content = doc.text_of("Content").unwrap_or("").to_owned();
                return Ok(push(MessageKind::Text { content }));
            }
            "event" => doc.text_of("Event").unwrap_or("").trim().to_owned(),
            _ => return Ok(push(MessageKind::Other { msg_type })),
        };
        let (status, time_field) = match event.as_str() {
            "weapp_audit_success" => (AuditStatus::Passed, "SuccTime"),
            "weapp_audit_fail" => (AuditStatus::Rejected, "FailTime"),
            "weapp_audit_delay" => (AuditStatus::Delayed, "DelayTime"),
            _ => return Ok(push(MessageKind::Event { event })),
        };
        let at = doc.optional_i64(time_field)?.unwrap_or(create_time);
        Ok(push(MessageKind::Audit(AuditEvent {
            status,
            reason: text("Reason"),
            screenshot: text("ScreenShot"),
            at,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_audit_events_and_keeps_others() {
        let fail = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName><CreateTime>10</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_fail]]></Event><Reason><![CDATA[a<br>b]]></Reason><FailTime>9</FailTime><ScreenShot><![CDATA[m1|m2]]></ScreenShot></xml>";
        let push = MessagePush::parse(fail).unwrap();
        assert_eq!((push.to_user_name.as_str(), push.create_time), ("gh_1", 10));
        let MessageKind::Audit(event) = push.kind else {
            panic!()
        };
        assert_eq!(event.status, AuditStatus::Rejected);
        assert_eq!(
            (
                event.reason.as_deref(),
                event.screenshot.as_deref(),
                event.at
            ),
            (Some("a<br>b"), Some("m1|m2"), 9)
        );
        assert_eq!(push.from_user_name, "o");
        let text = "<xml><ToUserName>gh_1</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
        let text = MessagePush::parse(text).unwrap();
        assert_eq!(
            text.kind,
            MessageKind::Text {
                content: "hi".into()
            }
        );
        assert_eq!(text.from_user_name, "");
        let location = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.1</Latitude></xml>";
        assert_eq!(
            MessagePush::parse(location).unwrap().kind,
            MessageKind::Event {
                event: "LOCATION".into()
            }
        );
        let image = "<xml><ToUserName>gh_1</ToUserName><CreateTime>1</CreateTime><MsgType>image</MsgType></xml>";
        assert_eq!(
            MessagePush::parse(image).unwrap().kind,
            MessageKind::Other {
                msg_type: "image".into()
            }
        );
        let unaddressed = "<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
        assert_eq!(
            MessagePush::parse(unaddressed),
            Err(XmlError::MissingField("ToUserName"))
        );
    }

    #[test]
    fn transitions_only_go_forward() {
        assert!(AuditStatus::Pending.rank() < AuditStatus::Delayed.rank());
        assert!(AuditStatus::Delayed.rank() < AuditStatus::Passed.rank());
        assert!(AuditStatus::Passed.rank() < AuditStatus::Released.rank());
        assert_eq!(AuditStatus::from_wechat(4), Some(AuditStatus::Delayed));
        assert_eq!(AuditStatus::from_wechat(9), None);
        assert!(AuditStatus::Delayed.is_open() && !AuditStatus::Rejected.is_open());
    }
}
