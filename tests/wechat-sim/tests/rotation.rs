//! Refresh-token rotation ("获取/刷新接口调用令牌" (api_authorizer_token)): by default api_authorizer_token answers the refresh
//! token it was given; with rotation on, a new one each time, the replaced one accepted for a grace
//! period, and WeChat's list and info answering the current one.

mod common;

use common::{
    assert_errcode, component_api, mp_authorized, refresh_body, start, start_with, APPID, MP,
};
use serde_json::json;

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_the_same() {
    let env = start().await;
    let (token, refresh) = mp_authorized(&env).await;
    let path = component_api("api_authorizer_token", &token);
    for _ in 0..3 {
        let r = env.post(&path, refresh_body(&refresh)).await;
        assert_eq!(r["authorizer_refresh_token"], refresh.as_str(), "{r}");
    }
}

#[tokio::test]
async fn rotated_refresh_tokens_replace_the_old_one_after_a_grace_period() {
    let env = start_with(|c| c.refresh_tokens.replaced_valid_secs = 300).await;
    let (token, first) = mp_authorized(&env).await;
    let settings = env.ctl.rotate_refresh_tokens(300).await;
    assert_eq!(settings["rotate"], true, "{settings}");
    let path = component_api("api_authorizer_token", &token);
    let r = env.post(&path, refresh_body(&first)).await;
    let second = r["authorizer_refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "{r}");
    // The replaced one still works for a while (and is itself rotated away).
    let r = env.post(&path, refresh_body(&first)).await;
    let third = r["authorizer_refresh_token"].as_str().unwrap().to_owned();
    assert!(third != first && third != second, "{r}");
    // WeChat's list and info name the current one.
    let list = env
        .post(
            &component_api("api_get_authorizer_list", &token),
            json!({ "component_appid": APPID, "offset": 0, "count": 500 }),
        )
        .await;
    assert_eq!(list["list"][0]["refresh_token"], third.as_str(), "{list}");
    let info = env
        .post(
            &component_api("api_get_authorizer_info", &token),
            json!({ "component_appid": APPID, "authorizer_appid": MP }),
        )
        .await;
    assert_eq!(
        info["authorization_info"]["authorizer_refresh_token"],
        third.as_str()
    );
    // After the grace period only the current one is accepted.
    env.ctl.advance_clock(301).await;
    let token = env.component_token().await;
    let path = component_api("api_authorizer_token", &token);
    assert_errcode(&env.post(&path, refresh_body(&first)).await, 61023);
    assert_errcode(&env.post(&path, refresh_body(&second)).await, 61023);
    let r = env.post(&path, refresh_body(&third)).await;
    assert!(r["authorizer_access_token"].is_string(), "{r}");
}
