//! Push formats: the encrypted envelope ("消息加解密技术方案") and the decrypted authorization-event pushes ("授权事件接收URL" (authorize_event)).

use crate::xml::{self, Element, XmlError};

/// Largest push body accepted (WeChat's pushes are a few hundred bytes).
pub const MAX_PUSH_BYTES: usize = 64 * 1024;

/// How far ahead of our clock a push's `CreateTime` may be. WeChat's and AWS's clocks are both
/// NTP-synchronised (seconds apart); a time further ahead (milliseconds sent as seconds, say) would
/// otherwise win every later "newest first" comparison and freeze what it wrote.
pub const MAX_FUTURE_SKEW_SECS: i64 = 300;

/// How much older than its signed `timestamp` a push's `CreateTime` may be. WeChat pushes an event
/// when it happens and retries within seconds (消息与事件接收URL: 5 s, 3 tries); the oldest push
/// worth anything is a component_verify_ticket, valid 12 h.
pub const MAX_PUSH_DELAY_SECS: i64 = 12 * 3600;

/// True when `time` (WeChat's clock) is further ahead of `now` (ours) than clock skew explains.
pub fn is_future_dated(time: i64, now: i64) -> bool {
    time > now.saturating_add(MAX_FUTURE_SKEW_SECS)
}

/// Who an encrypted envelope is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    /// `AppId`: the component appid (authorization event URL).
    Component(String),
    /// `ToUserName`: an authorizer's original id `gh_…` (message URL).
    Authorizer(String),
}

/// The outer, still encrypted push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub addressee: Addressee,
    pub encrypt: String,
}

impl Envelope {
    pub fn parse(body: &str) -> Result<Self, XmlError> {
        let doc = xml::parse(body)?;
        let encrypt = doc
            .text_of("Encrypt")
            .map(str::trim)
            .ok_or(XmlError::MissingField("Encrypt"))?
            .to_owned();
        let addressee = if let Some(appid) = doc.text_of("AppId") {
            Addressee::Component(appid.trim().to_owned())
        } else if let Some(user) = doc.text_of("ToUserName") {
            Addressee::Authorizer(user.trim().to_owned())
        } else {
            return Err(XmlError::MissingField("AppId"));
        };
        Ok(Self { addressee, encrypt })
    }
}

/// An authorization code carried by `authorized` / `updateauthorized`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationGrant {
    pub authorizer_appid: String,
    pub authorization_code: String,
    /// Absolute Unix seconds ("授权事件接收URL" (authorize_event): treated as an absolute timestamp).
    pub authorization_code_expired_time: Option<i64>,
    pub pre_auth_code: Option<String>,
}

/// What an authorization-event push carries, by `InfoType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationEvent {
    ComponentVerifyTicket {
        ticket: String,
    },
    Authorized(AuthorizationGrant),
    UpdateAuthorized(AuthorizationGrant),
    Unauthorized {
        authorizer_appid: String,
    },
    FastRegister {
        appid: Option<String>,
        status: i64,
        auth_code: Option<String>,
        msg: Option<String>,
        /// The `info` element's children, name → text.
        info: Vec<(String, String)>,
    },
    /// An InfoType this code does not know yet; kept raw so nothing is lost.
    Other {
        info_type: String,
    },
}

/// A decrypted push to the authorization event URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPush {
    pub component_appid: String,
    pub create_time: i64,
    pub info_type: String,
    pub event: AuthorizationEvent,
}

impl AuthorizationPush {
    pub fn parse(plaintext: &str) -> Result<Self, XmlError> {
        let doc = xml::parse(plaintext)?;
        let info_type = doc.required("InfoType")?.to_owned();
        let event = match info_type.as_str() {
            "component_verify_ticket" => AuthorizationEvent::ComponentVerifyTicket {
                ticket: doc.required("ComponentVerifyTicket")?.to_owned(),
            },
            "authorized" => AuthorizationEvent::Authorized(grant(&doc)?),
            "updateauthorized" => AuthorizationEvent::UpdateAuthorized(grant(&doc)?),
            "unauthorized" => AuthorizationEvent::Unauthorized {
                authorizer_appid: doc.required("AuthorizerAppid")?.to_owned(),
            },
            "notify_third_fasteregister" => AuthorizationEvent::FastRegister {
                appid: optional_text(&doc, "appid"),
                status: doc.required_i64("status")?,
                auth_code: optional_text(&doc, "auth_code"),
                msg: optional_text(&doc, "msg"),
                info: doc
                    .child("info")
                    .map(|info| {
                        info.children
                            .iter()
                            .map(|c| (c.name.clone(), c.text.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => AuthorizationEvent::Other {
                info_type: info_type.clone(),
            },
        };
        Ok(Self {
            component_appid: doc.required("AppId")?.to_owned(),
            create_time: doc.required_i64("CreateTime")?,
            info_type,
            event,
        })
    }

    /// The authorizer this push is about, if any.
    pub fn authorizer_appid(&self) -> Option<&str> {
        match &self.event {
            AuthorizationEvent::Authorized(g) | AuthorizationEvent::UpdateAuthorized(g) => {
                Some(&g.authorizer_appid)
            }
            AuthorizationEvent::Unauthorized { authorizer_appid } => Some(authorizer_appid),
            AuthorizationEvent::FastRegister { appid, .. } => appid.as_deref(),
            AuthorizationEvent::ComponentVerifyTicket { .. } | AuthorizationEvent::Other { .. } => {
                None
            }
        }
    }
}

fn optional_text(doc: &Element, name: &str) -> Option<String> {
    doc.text_of(name)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn grant(doc: &Element) -> Result<AuthorizationGrant, XmlError> {
    Ok(AuthorizationGrant {
        authorizer_appid: doc.required("AuthorizerAppid")?.to_owned(),
        authorization_code: doc.required("AuthorizationCode")?.to_owned(),
        authorization_code_expired_time: doc.optional_i64("AuthorizationCodeExpiredTime")?,
        pre_auth_code: optional_text(doc, "PreAuthCode"),
    })
}

/// The plaintext of a component_verify_ticket push, as WeChat sends it (for simulators and tests).
pub fn verify_ticket_xml(component_appid: &str, create_time: i64, ticket: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{create_time}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>"
    )
}

/// The outer envelope WeChat posts to the authorization event URL.
pub fn component_envelope_xml(component_appid: &str, encrypt: &str) -> String {
    format!("<xml><AppId><![CDATA[{component_appid}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
}

/// The outer envelope WeChat posts to a mini program's message URL.
pub fn message_envelope_xml(original_id: &str, encrypt: &str) -> String {
    format!("<xml><ToUserName><![CDATA[{original_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ticket_push_with_and_without_cdata() {
        let with = verify_ticket_xml("wxc", 1413192605, "ticket@@@abc");
        let without = "<xml><AppId>wxc</AppId><CreateTime>1413192605</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>ticket@@@abc</ComponentVerifyTicket></xml>";
        for doc in [with.as_str(), without] {
            let push = AuthorizationPush::parse(doc).unwrap();
            assert_eq!(push.component_appid, "wxc");
            assert_eq!(push.create_time, 1413192605);
            assert_eq!(
                push.event,
                AuthorizationEvent::ComponentVerifyTicket {
                    ticket: "ticket@@@abc".into()
                }
            );
        }
    }

    #[test]
    fn parses_authorization_pushes() {
        let doc = "<xml><AppId>wxc</AppId><CreateTime>1413192760</CreateTime><InfoType>updateauthorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid><AuthorizationCode>code</AuthorizationCode><AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime><PreAuthCode>pre</PreAuthCode></xml>";
        let push = AuthorizationPush::parse(doc).unwrap();
        assert_eq!(push.authorizer_appid(), Some("wxa"));
        assert_eq!(
            push.event,
            AuthorizationEvent::UpdateAuthorized(AuthorizationGrant {
                authorizer_appid: "wxa".into(),
                authorization_code: "code".into(),
                authorization_code_expired_time: Some(1413196360),
                pre_auth_code: Some("pre".into()),
            })
        );
        let doc = "<xml><AppId>wxc</AppId><CreateTime>1</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid></xml>";
        assert_eq!(
            AuthorizationPush::parse(doc).unwrap().event,
            AuthorizationEvent::Unauthorized {
                authorizer_appid: "wxa".into()
            }
        );
    }

    #[test]
    fn parses_fast_registration_and_keeps_unknown_types() {
        let doc = "<xml><AppId>wxc</AppId><CreateTime>1535442403</CreateTime><InfoType>notify_third_fasteregister</InfoType><appid>wxnew</appid><status>0</status><auth_code>ac</auth_code><msg>OK</msg><info><name>企业</name><code_type>1</code_type></info></xml>";
        let push = AuthorizationPush::parse(doc).unwrap();
        let AuthorizationEvent::FastRegister {
            appid,
            status,
            info,
            ..
        } = &push.event
        else {
            panic!("not a fast registration: {push:?}")
        };
        assert_eq!((appid.as_deref(), *status), (Some("wxnew"), 0));
        assert_eq!(info[0], ("name".to_string(), "企业".to_string()));
        let doc = "<xml><AppId>wxc</AppId><CreateTime>5</CreateTime><InfoType>notify_3rd_wxa_auth</InfoType><taskid>t</taskid></xml>";
        let push = AuthorizationPush::parse(doc).unwrap();
        assert_eq!(
            push.event,
            AuthorizationEvent::Other {
                info_type: "notify_3rd_wxa_auth".into()
            }
        );
    }

    #[test]
    fn missing_or_malformed_fields_are_errors() {
        let no_ticket = "<xml><AppId>wxc</AppId><CreateTime>1</CreateTime><InfoType>component_verify_ticket</InfoType></xml>";
        assert_eq!(
            AuthorizationPush::parse(no_ticket),
            Err(XmlError::MissingField("ComponentVerifyTicket"))
        );
        let bad_time = "<xml><AppId>wxc</AppId><CreateTime>soon</CreateTime><InfoType>unknown</InfoType></xml>";
        assert!(matches!(
            AuthorizationPush::parse(bad_time),
            Err(XmlError::NotAnInteger {
                field: "CreateTime",
                ..
            })
        ));
    }

    #[test]
    fn parses_both_envelopes() {
        let e = Envelope::parse(&component_envelope_xml("wxc", "abc=")).unwrap();
        assert_eq!(
            e,
            Envelope {
                addressee: Addressee::Component("wxc".into()),
                encrypt: "abc=".into()
            }
        );
        let e = Envelope::parse(&message_envelope_xml("gh_1", "x")).unwrap();
        assert_eq!(e.addressee, Addressee::Authorizer("gh_1".into()));
        assert_eq!(
            Envelope::parse("<xml><AppId>wxc</AppId></xml>"),
            Err(XmlError::MissingField("Encrypt"))
        );
    }
}
