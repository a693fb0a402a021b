//! The third-party platform's own endpoints (WeChat Open Platform docs, "第三方平台 / 令牌与授权":
//! api_component_token, api_start_push_ticket, api_create_preauthcode, api_query_auth,
//! api_authorizer_token, api_get_authorizer_info, api_get_authorizer_list).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::endpoint::{endpoint, Done};
use crate::authorizer::{AuthorizerInfoAnswer, QueryAuthAnswer};
use crate::json_answers;

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// "api_component_token": the component access token, bought with the newest ticket.
#[derive(Serialize)]
pub struct ComponentToken<'a> {
    pub component_appid: &'a str,
    #[serde(serialize_with = "expose")]
    pub component_appsecret: &'a SecretString,
    #[serde(serialize_with = "expose")]
    pub component_verify_ticket: &'a SecretString,
}

#[derive(Debug, Deserialize)]
pub struct ComponentTokenAnswer {
    pub component_access_token: SecretString,
    pub expires_in: i64,
}

endpoint!(ComponentToken<'_>, Post "/cgi-bin/component/api_component_token", None => ComponentTokenAnswer);

/// "api_start_push_ticket": asks WeChat to push tickets again. Note `component_secret` here where
/// api_component_token says `component_appsecret`.
#[derive(Serialize)]
pub struct StartPushTicket<'a> {
    pub component_appid: &'a str,
    #[serde(serialize_with = "expose")]
    pub component_secret: &'a SecretString,
}

endpoint!(StartPushTicket<'_>, Post "/cgi-bin/component/api_start_push_ticket", None => Done);

/// "api_create_preauthcode": the code of one authorization link.
#[derive(Serialize)]
pub struct CreatePreauthcode<'a> {
    pub component_appid: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct PreAuthCodeAnswer {
    pub pre_auth_code: String,
    pub expires_in: i64,
}

endpoint!(CreatePreauthcode<'_>, Post "/cgi-bin/component/api_create_preauthcode", Component => PreAuthCodeAnswer);

/// "api_query_auth": exchanges an authorization code for the authorizer's tokens.
#[derive(Serialize)]
pub struct QueryAuth<'a> {
    pub component_appid: &'a str,
    pub authorization_code: &'a str,
}

endpoint!(QueryAuth<'_>, Post "/cgi-bin/component/api_query_auth", Component => QueryAuthAnswer);

/// "api_get_authorizer_info": the account's details and its authorization as WeChat holds it.
#[derive(Serialize)]
pub struct GetAuthorizerInfo<'a> {
    pub component_appid: &'a str,
    pub authorizer_appid: &'a str,
}

endpoint!(GetAuthorizerInfo<'_>, Post "/cgi-bin/component/api_get_authorizer_info", Component => AuthorizerInfoAnswer);

/// "api_authorizer_token": a new authorizer access token for the refresh token (which WeChat may
/// rotate: the answer's refresh token is the one to keep).
#[derive(Serialize)]
pub struct AuthorizerToken<'a> {
    pub component_appid: &'a str,
    pub authorizer_appid: &'a str,
    #[serde(serialize_with = "expose")]
    pub authorizer_refresh_token: &'a SecretString,
}

#[derive(Debug, Deserialize)]
pub struct AuthorizerTokenAnswer {
    pub authorizer_access_token: SecretString,
    pub expires_in: i64,
    pub authorizer_refresh_token: SecretString,
}

endpoint!(AuthorizerToken<'_>, Post "/cgi-bin/component/api_authorizer_token", Component => AuthorizerTokenAnswer);

/// "api_get_authorizer_list": one page (at most 500) of who authorized the platform.
#[derive(Serialize)]
pub struct GetAuthorizerList<'a> {
    pub component_appid: &'a str,
    pub offset: u64,
    pub count: u64,
}

/// One entry of WeChat's list.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedAuthorizer {
    pub authorizer_appid: String,
    /// Missing when the authorization code was never exchanged ("api_get_authorizer_list").
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub auth_time: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct AuthorizerListPage {
    pub total_count: u64,
    #[serde(default)]
    pub list: Vec<ListedAuthorizer>,
}

endpoint!(GetAuthorizerList<'_>, Post "/cgi-bin/component/api_get_authorizer_list", Component => AuthorizerListPage);

json_answers!(
    ComponentTokenAnswer,
    PreAuthCodeAnswer,
    QueryAuthAnswer,
    AuthorizerInfoAnswer,
    AuthorizerTokenAnswer,
    AuthorizerListPage,
);
