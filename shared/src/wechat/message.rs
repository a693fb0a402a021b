//! Messages an authorizer sends ("客服消息" (customer-message/trans): `message/custom/send`),
//! called with its authorizer token.

use serde::Serialize;

use super::endpoint::{endpoint, Done};

/// The text of a customer-service message.
#[derive(Debug, Clone, Serialize)]
pub struct Text<'a> {
    pub content: &'a str,
}

/// "发送客服消息" (custom/send): a text message to a user who wrote to the account.
#[derive(Debug, Clone, Serialize)]
pub struct CustomSend<'a> {
    pub touser: &'a str,
    /// Always `text` here (the only kind the platform sends).
    pub msgtype: &'static str,
    pub text: Text<'a>,
}

impl<'a> CustomSend<'a> {
    pub fn text(touser: &'a str, content: &'a str) -> Self {
        Self {
            touser,
            msgtype: "text",
            text: Text { content },
        }
    }
}

endpoint!(CustomSend<'_>, Post "/cgi-bin/message/custom/send", Authorizer => Done);
