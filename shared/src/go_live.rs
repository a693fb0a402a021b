//! WeChat's go-live check ("全网发布接入检测说明" (releases_instructions)): before a third-party
//! platform is released to all of WeChat, WeChat authorizes its own test accounts to it and pushes
//! three kinds of message to the message URL of each; the platform must answer every one as the
//! check expects. This module knows those accounts, tells a push's case, and builds the passive
//! reply.
//!
//! The accounts are kept apart from real authorizers: their authorizer items carry
//! `test_account = true` ([`crate::authorizer::Authorizer::test_account`]), and code rollouts
//! must leave them out.

use crate::audit::MessageKind;

/// The kind of a WeChat account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    OfficialAccount,
    MiniProgram,
}

/// One of WeChat's go-live test accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestAccount {
    pub appid: &'static str,
    /// The original id (`gh_…`) its pushes are addressed to (`ToUserName`).
    pub original_id: &'static str,
    pub kind: AccountKind,
}

const fn account(appid: &'static str, original_id: &'static str, kind: AccountKind) -> TestAccount {
    TestAccount {
        appid,
        original_id,
        kind,
    }
}

/// The ten test accounts of "全网发布接入检测说明": five official accounts, five mini programs.
/// The check picks one of each.
pub const TEST_ACCOUNTS: [TestAccount; 10] = {
    use AccountKind::{MiniProgram as M, OfficialAccount as O};
    [
        account("wx570bc396a51b8ff8", "gh_3c884a361561", O),
        account("wx9252c5e0bb1836fc", "gh_c0f28a78b318", O),
        account("wx8e1097c5bc82cde9", "gh_3f222ed8d140", O),
        account("wx14550af28c71a144", "gh_26128078e9ab", O),
        account("wxa35b9c23cfe664eb", "gh_2b3713f184a6", O),
        account("wxd101a85aa106f53e", "gh_8dad206e9538", M),
        account("wxc39235c15087f6f3", "gh_905ae9d01059", M),
        account("wx7720d01d4b2a4500", "gh_393666f1fdf4", M),
        account("wx05d483572dcd5d8b", "gh_39abb5d4e1b7", M),
        account("wx5910277cae6fd970", "gh_7818dcb60240", M),
    ]
};

/// The test account `appid`, if it is one.
pub fn test_account(appid: &str) -> Option<&'static TestAccount> {
    TEST_ACCOUNTS.iter().find(|a| a.appid == appid)
}

pub fn is_test_account(appid: &str) -> bool {
    test_account(appid).is_some()
}

/// The text of the check's text case (3).
pub const TEXT_CASE: &str = "TESTCOMPONENT_MSG_TYPE_TEXT";
/// The prefix of the check's API case (4): `QUERY_AUTH_CODE:<authorization code>`.
pub const QUERY_AUTH_CODE_PREFIX: &str = "QUERY_AUTH_CODE:";

/// Which case of the check a push is (by name, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CaseName {
    /// An event; answered with the passive text `<Event>from_callback`.
    Event,
    /// `TESTCOMPONENT_MSG_TYPE_TEXT`; answered with `TESTCOMPONENT_MSG_TYPE_TEXT_callback`.
    Text,
    /// `QUERY_AUTH_CODE:<code>`; the code exchanged and a customer-service message sent.
    QueryAuthCode,
}

impl CaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Text => "text",
            Self::QueryAuthCode => "query_auth_code",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Event, Self::Text, Self::QueryAuthCode]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

/// What a test account's push asks of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case {
    /// Reply passively with this text.
    Reply { name: CaseName, content: String },
    /// Exchange the code, then send `<code>_from_api` as a customer-service message.
    QueryAuthCode { code: String },
}

impl Case {
    /// The case of a test account's push; None for anything else (answered `success`).
    pub fn of(kind: &MessageKind) -> Option<Self> {
        match kind {
            MessageKind::Event { event } if !event.is_empty() => Some(Self::Reply {
                name: CaseName::Event,
                content: format!("{event}from_callback"),
            }),
            MessageKind::Text { content } if content == TEXT_CASE => Some(Self::Reply {
                name: CaseName::Text,
                content: format!("{TEXT_CASE}_callback"),
            }),
            MessageKind::Text { content } => content
                .strip_prefix(QUERY_AUTH_CODE_PREFIX)
                .filter(|code| !code.is_empty())
                .map(|code| Self::QueryAuthCode {
                    code: code.to_owned(),
                }),
            _ => None,
        }
    }

    pub fn name(&self) -> CaseName {
        match self {
            Self::Reply { name, .. } => *name,
            Self::QueryAuthCode { .. } => CaseName::QueryAuthCode,
        }
    }
}

/// The customer-service text the API case expects for `code`.
pub fn custom_message_content(code: &str) -> String {
    format!("{code}_from_api")
}

/// `text` as one CDATA section, or several when it holds `]]>`.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A passive text reply ("被动回复用户消息": text): to the push's sender, from the account it
/// was addressed to. Encrypted into the reply envelope with
/// [`crate::crypto::MessageCrypto::reply_envelope`].
pub fn text_reply_xml(
    to_user_name: &str,
    from_user_name: &str,
    create_time: i64,
    content: &str,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
        cdata(to_user_name),
        cdata(from_user_name),
        cdata(content)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_cases_apart() {
        let text = |content: &str| MessageKind::Text {
            content: content.into(),
        };
        assert_eq!(
            Case::of(&MessageKind::Event {
                event: "LOCATION".into()
            }),
            Some(Case::Reply {
                name: CaseName::Event,
                content: "LOCATIONfrom_callback".into()
            })
        );
        assert_eq!(
            Case::of(&text(TEXT_CASE)).map(|c| c.name()),
            Some(CaseName::Text)
        );
        assert_eq!(
            Case::of(&text("QUERY_AUTH_CODE:queryauthcode@@@abc")),
            Some(Case::QueryAuthCode {
                code: "queryauthcode@@@abc".into()
            })
        );
        for other in ["hello", "QUERY_AUTH_CODE:", "TESTCOMPONENT_MSG_TYPE_TEXT "] {
            assert_eq!(Case::of(&text(other)), None, "{other}");
        }
        assert_eq!(custom_message_content("c"), "c_from_api");
        for name in [CaseName::Event, CaseName::Text, CaseName::QueryAuthCode] {
            assert_eq!(CaseName::parse(name.as_str()), Some(name));
        }
    }

    #[test]
    fn knows_the_ten_accounts() {
        assert_eq!(
            test_account("wxd101a85aa106f53e").map(|a| (a.original_id, a.kind)),
            Some(("gh_8dad206e9538", AccountKind::MiniProgram))
        );
        assert!(!is_test_account("wxd3m0shop00000001"));
        let officials = TEST_ACCOUNTS
            .iter()
            .filter(|a| a.kind == AccountKind::OfficialAccount)
            .count();
        assert_eq!(officials, 5);
    }

    #[test]
    fn replies_parse_back() {
        let xml = text_reply_xml("o-user", "gh_1", 5, "a]]>b");
        let doc = crate::xml::parse(&xml).unwrap();
        assert_eq!(doc.text_of("Content"), Some("a]]>b"));
        assert_eq!(doc.text_of("ToUserName"), Some("o-user"));
        assert_eq!(doc.text_of("FromUserName"), Some("gh_1"));
        assert_eq!(doc.text_of("MsgType"), Some("text"));
    }
}
