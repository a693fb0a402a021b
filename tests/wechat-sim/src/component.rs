//! Component token and authorization APIs ("令牌与授权" (ThirdParty/token)): /cgi-bin/component/…

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Value};

use crate::config::MiniProgram;
use crate::state::{
    random_id, AuthorizationStatus, CodeState, PreAuthCode, SimState, TokenOwner,
    PRE_AUTH_CODE_LIFETIME, TICKET_LIFETIME, TOKEN_LIFETIME,
};
use crate::wx::{bare, int_field, json_body, ok, respond, str_field, WxError, WxResult};
use crate::Sim;

type Params = Query<HashMap<String, String>>;

pub(crate) fn check_component_appid(state: &SimState, body: &Value) -> Result<(), WxError> {
    if str_field(body, "component_appid")? != state.config.component.appid {
        return Err(WxError::new(40013, "invalid appid"));
    }
    Ok(())
}

/// A component API call: the component token checked, the JSON body parsed, its component_appid ours.
pub(crate) fn with_component_call(
    sim: &Sim,
    params: &HashMap<String, String>,
    body: &[u8],
    f: impl FnOnce(&mut SimState, &Value) -> WxResult,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        state.require_component_token(component_token(params))?;
        let body = json_body(body)?;
        check_component_appid(&state, &body)?;
        f(&mut state, &body)
    })())
}

pub(crate) fn component_token(params: &HashMap<String, String>) -> Option<&str> {
    params
        .get("component_access_token")
        .or_else(|| params.get("access_token"))
        .map(String::as_str)
}

pub async fn start_push_ticket(State(sim): State<Sim>, body: Bytes) -> Response {
    let result = (|| {
        let body = json_body(&body)?;
        let state = sim.state();
        check_component_appid(&state, &body)?;
        if str_field(&body, "component_secret")? != state.config.component.appsecret {
            return Err(WxError::new(40125, "invalid appsecret"));
        }
        Ok(())
    })();
    if result.is_ok() {
        sim.push_ticket();
    }
    respond(result.and_then(|()| ok(json!({}))))
}

pub async fn component_token_api(State(sim): State<Sim>, body: Bytes) -> Response {
    respond((|| {
        let body = json_body(&body)?;
        let mut state = sim.state();
        check_component_appid(&state, &body)?;
        if str_field(&body, "component_appsecret")? != state.config.component.appsecret {
            return Err(WxError::new(40125, "invalid appsecret"));
        }
        let ticket = str_field(&body, "component_verify_ticket")?;
        let pushed_at = *state
            .tickets
            .get(ticket)
            .ok_or_else(|| WxError::new(61006, "component ticket is invalid"))?;
        if pushed_at + TICKET_LIFETIME <= state.now() {
            return Err(WxError::new(61005, "component ticket is expired"));
        }
        let token = state.issue_token(TokenOwner::Component);
        bare(json!({ "component_access_token": token, "expires_in": TOKEN_LIFETIME }))
    })())
}

pub async fn create_preauthcode(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, _| {
        let code = random_id("preauthcode@@@");
        let expires_at = state.now() + PRE_AUTH_CODE_LIFETIME;
        state.pre_auth_codes.insert(
            code.clone(),
            PreAuthCode {
                expires_at,
                used: false,
            },
        );
        bare(json!({ "pre_auth_code": code, "expires_in": PRE_AUTH_CODE_LIFETIME }))
    })
}

fn func_info(sets: &[i64]) -> Value {
    Value::Array(
        sets.iter()
            .map(|id| json!({ "funcscope_category": { "id": id } }))
            .collect(),
    )
}

pub async fn query_auth(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let code = str_field(body, "authorization_code")?;
        let now = state.now();
        let auth_code = state
            .auth_codes
            .get_mut(code)
            .filter(|c| !c.used)
            .ok_or_else(|| WxError::new(40029, "invalid code"))?;
        if auth_code.expires_at <= now {
            return Err(WxError::new(61010, "code is expired"));
        }
        auth_code.used = true;
        let appid = auth_code.appid.clone();
        let authorization = state
            .authorizations
            .get(&appid)
            .filter(|a| a.status == AuthorizationStatus::Authorized)
            .cloned()
            .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
        let token = state.issue_token(TokenOwner::Authorizer(appid.clone()));
        bare(json!({ "authorization_info": {
            "authorizer_appid": appid,
            "authorizer_access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "authorizer_refresh_token": authorization.refresh_token,
            "func_info": func_info(&authorization.permission_sets),
        }}))
    })
}

pub async fn authorizer_token(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let appid = str_field(body, "authorizer_appid")?.to_owned();
        let refresh_token = str_field(body, "authorizer_refresh_token")?;
        let now = state.now();
        let settings = state.config.refresh_tokens.clone();
        let authorization = state
            .authorizations
            .get_mut(&appid)
            .filter(|a| a.accepts_refresh_token(refresh_token, now))
            .ok_or_else(|| WxError::new(61023, "refresh_token is invalid"))?;
        let refresh_token = if settings.rotate {
            authorization.rotate_refresh_token(now, settings.replaced_valid_secs)
        } else {
            authorization.refresh_token.clone()
        };
        let token = state.issue_token(TokenOwner::Authorizer(appid));
        bare(json!({
            "authorizer_access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "authorizer_refresh_token": refresh_token,
        }))
    })
}

pub async fn get_authorizer_info(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let appid = str_field(body, "authorizer_appid")?;
        let authorization = state
            .authorizations
            .get(appid)
            .filter(|a| a.status == AuthorizationStatus::Authorized)
            .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
        let authorization_info = json!({
            "authorizer_appid": appid,
            "authorizer_refresh_token": authorization.refresh_token,
            "func_info": func_info(&authorization.permission_sets),
        });
        if let Some(account) = crate::golive::test_account(appid) {
            return ok(json!({
                "authorizer_info": account.authorizer_info(),
                "authorization_info": authorization_info,
            }));
        }
        let mp = state
            .mini_program(appid)
            .ok_or_else(|| WxError::new(40013, "invalid appid"))?;
        ok(json!({
            "authorizer_info": authorizer_info(mp, state.code.get(appid)),
            "authorization_info": authorization_info,
        }))
    })
}

/// `authorizer_info` of api_get_authorizer_info for a mini program and its code state.
pub fn authorizer_info(mp: &MiniProgram, code: Option<&CodeState>) -> Value {
    let domains = |kind: &str| {
        code.and_then(|c| c.domains.get(kind))
            .cloned()
            .unwrap_or_default()
    };
    json!({
        "nick_name": mp.nickname,
        "head_img": mp.head_img,
        "service_type_info": { "id": 0 },
        "verify_type_info": { "id": 0 },
        "user_name": mp.original_id,
        "alias": "",
        "qrcode_url": format!("http://mmbiz.qpic.cn/mmbiz_jpg/{}/0", mp.original_id),
        "business_info": { "open_pay": 0, "open_shake": 0, "open_scan": 0, "open_card": 0, "open_store": 0 },
        "idc": 1,
        "principal_name": mp.principal_name,
        "signature": "",
        "register_type": 0,
        "account_status": 1,
        "basic_config": { "is_phone_configured": true, "is_email_configured": true },
        "MiniProgramInfo": {
            "network": {
                "RequestDomain": domains("requestdomain"),
                "WsRequestDomain": domains("wsrequestdomain"),
                "UploadDomain": domains("uploaddomain"),
                "DownloadDomain": domains("downloaddomain"),
                "UDPDomain": domains("udpdomain"),
                "TCPDomain": domains("tcpdomain"),
                "BizDomain": code.map(|c| c.webview_domains.clone()).unwrap_or_default(),
            },
            "categories": mp.categories.iter().map(|c| json!({ "first": c.first_class, "second": c.second_class })).collect::<Vec<_>>(),
            "visit_status": 0,
        },
    })
}

pub async fn get_authorizer_list(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let offset = int_field(body, "offset")?;
        let count = int_field(body, "count")?;
        if !(1..=500).contains(&count) || offset < 0 {
            return Err(WxError::new(
                40097,
                "invalid args: count must be 1..=500, offset >= 0",
            ));
        }
        let authorized: Vec<_> = state
            .authorizations
            .values()
            .filter(|a| a.status == AuthorizationStatus::Authorized)
            .collect();
        let list: Vec<Value> = authorized
            .iter()
            .skip(offset as usize)
            .take(count as usize)
            .map(|a| json!({ "authorizer_appid": a.appid, "refresh_token": a.refresh_token, "auth_time": a.auth_time }))
            .collect();
        ok(json!({ "total_count": authorized.len(), "list": list }))
    })
}
