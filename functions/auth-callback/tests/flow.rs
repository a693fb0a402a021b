//! The owner's authorization flow end to end, against moto and the WeChat simulator: the handlers
//! of auth-start, auth-callback and ticket-receive as Lambda calls them, the simulator's real
//! authorization page and its encrypted pushes (recorded, then delivered in the order a test wants).

use auth_callback::AuthCallback;
use auth_start::AuthStart;
use devstack::apigw::{body_text, get};
use devstack::inbox::Received;
use devstack::owner::location_of;
use devstack::sim::{mini_program, Component, MiniProgramBuilder, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use shared::authorizer::AuthorizerStatus;
use shared::store::{DynamoAuthorizerStore, DynamoTicketStore};
use ticket_receive::PlatformReceiver;
use wechat_sim::SimConfig;

const APPID: &str = "wxflowcomponent001";
const MP: &str = "wxflowminiprogram1";
const CALLBACK: &str = devstack::owner::REDIRECT_URI;

struct Flow {
    world: World,
    receiver: PlatformReceiver,
    start: AuthStart<DynamoTicketStore>,
    callback: AuthCallback<DynamoTicketStore, DynamoAuthorizerStore>,
}

devstack::deref_world!(Flow);

async fn flow(test: &str) -> Flow {
    flow_with(test, |_| {}).await
}

/// A flow whose ticket has arrived.
async fn ticketed(test: &str) -> Flow {
    let f = flow(test).await;
    f.ticket_arrives().await;
    f
}

/// A flow whose ticket has arrived and whose owner has authorized with `sets`; with WeChat's
/// redirect to the callback.
async fn authorized(test: &str, sets: &[i64]) -> (Flow, String) {
    authorized_with(test, sets, |_| {}).await
}

async fn authorized_with(
    test: &str,
    sets: &[i64],
    adjust: impl FnOnce(&mut SimConfig),
) -> (Flow, String) {
    let f = flow_with(test, adjust).await;
    f.ticket_arrives().await;
    let location = f.owner_authorizes(sets).await;
    (f, location)
}

async fn flow_with(test: &str, adjust: impl FnOnce(&mut SimConfig)) -> Flow {
    let tea_house = mini_program(MP)
        .original_id("gh_flow00000001")
        .named("Flow Tea House", "Flow Tea Ltd.")
        .category(("餐饮", 220), ("点餐", 221))
        .pages(&["pages/index/index"])
        .sets(&[17, 18, 19]);
    let world = Setup::new(&Component::new(APPID, "flow-secret", "flowtoken"))
        .mini_program(tea_house)
        .configure(adjust)
        .pushes_to_inbox()
        .start(test)
        .await;
    let platform = &world.platform;
    Flow {
        receiver: PlatformReceiver::from_platform(platform).unwrap(),
        start: AuthStart::from_platform(platform, CALLBACK.into()),
        callback: AuthCallback::from_platform(platform),
        world,
    }
}

impl Flow {
    /// Delivers a recorded push to ticket-receive, as WeChat would.
    async fn deliver(&self, received: &Received) -> (StatusCode, String) {
        let response = ticket_receive::handle(&self.receiver, received.request())
            .await
            .unwrap();
        (response.status(), body_text(&response))
    }

    /// The simulator pushes a ticket; ticket-receive stores it.
    async fn ticket_arrives(&self) {
        let ticket = self.push_ticket();
        let pushed = self.inbox().wait_for(&ticket).await;
        self.delivered(&pushed).await;
    }

    /// Delivers a push that must be answered `success`.
    async fn delivered(&self, received: &Received) {
        assert_eq!(
            self.deliver(received).await,
            (StatusCode::OK, "success".into())
        );
    }

    /// The stored authorizer of the flow's mini program.
    async fn stored(&self) -> Option<shared::authorizer::Authorizer> {
        self.world.stored(MP).await
    }

    /// The owner revokes the authorization on WeChat; returns the `unauthorized` push.
    async fn owner_revokes(&self) -> Received {
        assert_eq!(self.ctl.revoke(MP).await, 204);
        self.inbox().wait_for("unauthorized").await
    }

    async fn calls(&self, endpoint: &str) -> u64 {
        self.ctl.calls(endpoint).await
    }

    /// GET /auth/start?query asking for JSON: its status and body.
    async fn start_page(&self, query: &[(&str, &str)]) -> (StatusCode, String) {
        let response = auth_start::handle(&self.start, get("/auth/start", query, true))
            .await
            .unwrap();
        (response.status(), body_text(&response))
    }

    /// GET /auth/start (JSON), then the owner opens the PC link, picks the mini program with the
    /// given permission sets and confirms. Returns WeChat's redirect to the callback.
    async fn owner_authorizes(&self, sets: &[i64]) -> String {
        let (status, body) = self.start_page(&[("auth_type", "2")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let links: Value = serde_json::from_str(&body).unwrap();
        let pc_url = links["pc_url"].as_str().unwrap();
        let page = self
            .http
            .get(pc_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Flow Tea House"), "{page}");
        // The page's form carries the pre_auth_code and the configured redirect_uri.
        let field = |name: &str| {
            let marker = format!("name=\"{name}\" value=\"");
            page.split(&marker)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
        };
        // WeChat is given the callback URL with the state /auth/start signed.
        assert!(
            field("redirect_uri").starts_with(&format!("{CALLBACK}?state=s1.")),
            "{}",
            field("redirect_uri")
        );
        let (pre_auth_code, redirect_uri) = (field("pre_auth_code"), field("redirect_uri"));
        let form = [
            ("pre_auth_code", pre_auth_code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        let confirm = devstack::owner::confirm(&self.base_url(), &form, MP, sets).await;
        assert_eq!(confirm.status(), 302);
        location_of(&confirm)
    }

    /// The owner's browser lands on /auth/callback (the query of WeChat's redirect).
    async fn callback_with(&self, location: &str, json: bool) -> (StatusCode, String) {
        let query = location.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = url_pairs(query);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = auth_callback::handle(&self.callback, get("/auth/callback", &pairs, json))
            .await
            .unwrap();
        (response.status(), body_text(&response))
    }
}

/// The query's pairs, decoded as API Gateway decodes them for the handler.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A state the platform itself signed, valid from `issued` for `lifetime` seconds.
fn platform_state(f: &Flow, issued: i64, lifetime: i64) -> String {
    f.platform.state_signer().issue(issued, issued + lifetime)
}

#[tokio::test]
async fn an_owner_authorizes_and_the_authorizer_is_stored_once() {
    let f = ticketed("authorize").await;
    // The HTML page links to both WeChat pages.
    let html = auth_start::handle(&f.start, get("/auth/start", &[], false))
        .await
        .unwrap();
    let page = body_text(&html);
    assert!(
        page.contains(
            "/cgi-bin/componentloginpage?component_appid=wxflowcomponent001&amp;pre_auth_code="
        ),
        "{page}"
    );
    assert!(page.contains("/wxaopen/safe/bindcomponent?action=bindcomponent"));

    let location = f.owner_authorizes(&[17, 18]).await;
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Flow Tea House")
            && page.contains("授权成功")
            && !page.contains("id=\"missing\""),
        "{page}"
    );

    let stored = f.stored().await.unwrap();
    assert_eq!(stored.status, AuthorizerStatus::Authorized);
    assert_eq!(stored.permission_sets, vec![17, 18]);
    assert!(stored.has_code_management());
    assert_eq!(
        (
            stored.nick_name.as_str(),
            stored.principal_name.as_str(),
            stored.user_name.as_str()
        ),
        ("Flow Tea House", "Flow Tea Ltd.", "gh_flow00000001")
    );
    assert!(stored
        .access_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .starts_with("authorizer_token_"));
    assert!(stored
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .starts_with("refreshtoken@@@"));
    assert!(stored.access_token_expires_at.unwrap() > shared::store::unix_now() + 7000);
    assert!(stored.authorized_at.is_some());
    assert!(stored
        .mini_program_info
        .as_deref()
        .unwrap()
        .contains("点餐"));

    // The authorized push carrying the same code arrives afterwards: success, no second exchange.
    let pushed = f.inbox().wait_for("<InfoType><![CDATA[authorized]]>").await;
    f.delivered(&pushed).await;
    assert_eq!(f.calls("api_query_auth").await, 1);
    assert_eq!(f.calls("api_component_token").await, 1);
    // Reloading (or replaying) the callback URL exchanges nothing again and shows no details.
    let (status, json) = f.callback_with(&location, true).await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["status"], "already_shown", "{json}");
    assert!(json.get("authorizer_appid").is_none() && !json.to_string().contains("Flow Tea"));
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"already-shown\"") && !page.contains("Flow Tea") && !page.contains(MP),
        "{page}"
    );
    assert_eq!(f.calls("api_query_auth").await, 1);
}

/// The owner authorizes with permission set 17 only and the `authorized` push is delivered
/// before the owner's browser lands on the callback; returns the callback URL.
async fn authorized_by_push(test: &str) -> (Flow, String) {
    let (f, location) = authorized(test, &[17]).await;
    let pushed = f.inbox().wait_for("<InfoType><![CDATA[authorized]]>").await;
    f.delivered(&pushed).await;
    assert!(f.stored().await.is_some());
    (f, location)
}

#[tokio::test]
async fn the_push_may_arrive_before_the_callback() {
    let (f, location) = authorized_by_push("push-first").await;
    // The owner lands afterwards: no error, and the missing permission set is named.
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("id=\"missing\"") && page.contains("18"),
        "{page}"
    );
    assert_eq!(f.calls("api_query_auth").await, 1);
}

#[tokio::test]
async fn after_the_push_the_callback_answers_json_once() {
    let (f, location) = authorized_by_push("push-first-json").await;
    let (_, json) = f.callback_with(&location, true).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["missing_permission_sets"], json!([18]));
    assert_eq!(json["has_code_management"], false);
    assert_eq!(json["exchanged_now"], false);
    let (_, again) = f.callback_with(&location, true).await;
    assert!(again.contains("already_shown"), "{again}");
    assert_eq!(f.calls("api_query_auth").await, 1);
}

/// The callback's query without `state`, or with `state` replaced.
fn with_state(location: &str, state: Option<&str>) -> String {
    let (path, query) = location.split_once('?').unwrap();
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.starts_with("state="))
        .map(str::to_owned)
        .collect();
    if let Some(state) = state {
        pairs.push(format!("state={state}"));
    }
    format!("{path}?{}", pairs.join("&"))
}

#[tokio::test]
async fn the_callback_takes_only_a_code_with_a_state_from_the_start_page() {
    let (f, location) = authorized("state", &[17, 18]).await;
    let issued = url_pairs(location.split_once('?').unwrap().1)
        .into_iter()
        .find(|(k, _)| k == "state")
        .expect("WeChat kept the state of the redirect_uri")
        .1;
    let other_platform =
        shared::auth_state::StateSigner::new(APPID, &SecretString::from("another"))
            .issue(shared::store::unix_now(), shared::store::unix_now() + 1800);
    let tampered = issued.replacen("s1.", "s1.1", 1);
    let now = shared::store::unix_now();
    let expired = platform_state(&f, now - 4000, 1800);
    let refused: Vec<(String, &str)> = vec![
        (with_state(&location, None), "invalid_state"),
        (with_state(&location, Some(&expired)), "invalid_state"),
        (
            with_state(&location, Some("s1.9999999999.AAAA.AAAA")),
            "invalid_state",
        ),
        (
            with_state(&location, Some(&other_platform)),
            "invalid_state",
        ),
        (with_state(&location, Some(&tampered)), "invalid_state"),
        (
            format!("x?state={issued}&auth_code=queryauthcode@@@%3Cscript%3E&expires_in=600"),
            "invalid_auth_code",
        ),
        (
            format!("x?state={issued}&expires_in=600"),
            "missing_auth_code",
        ),
    ];
    let code = devstack::owner::auth_code_of(&location);
    for (url, error) in &refused {
        let (status, json) = f.callback_with(url, true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {json}");
        let json: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["error"], *error, "{url}: {json}");
    }
    // Nothing was written and WeChat was not asked.
    assert_eq!(f.calls("api_query_auth").await, 0);
    use shared::store::AuthCodeStore;
    assert_eq!(
        f.platform
            .ticket_store()
            .auth_code_claim(APPID, &code)
            .await
            .unwrap(),
        None
    );
    assert!(f.stored().await.is_none());
    // The link's own state still works.
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(f.calls("api_query_auth").await, 1);
    // It is now this code's: another code under it is refused, unclaimed and not exchanged.
    let other_code = "queryauthcode@@@another0000000000000000";
    let (status, json) = f
        .callback_with(
            &format!("x?state={issued}&auth_code={other_code}&expires_in=600"),
            true,
        )
        .await;
    assert_eq!(
        (status, json.contains("\"invalid_state\"")),
        (StatusCode::BAD_REQUEST, true),
        "{json}"
    );
    assert_eq!(f.calls("api_query_auth").await, 1);
    assert_eq!(
        f.platform
            .ticket_store()
            .auth_code_claim(APPID, other_code)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn two_loads_of_one_callback_url_show_the_details_once() {
    let (f, location) = authorized("double-load", &[17, 18]).await;
    let (first, second) = tokio::join!(
        f.callback_with(&location, true),
        f.callback_with(&location, true)
    );
    let answers = [first, second];
    assert!(
        answers.iter().all(|(status, _)| *status == StatusCode::OK),
        "{answers:?}"
    );
    let shown = answers
        .iter()
        .filter(|(_, body)| body.contains("Flow Tea"))
        .count();
    let already = answers
        .iter()
        .filter(|(_, body)| body.contains("already_shown"))
        .count();
    assert_eq!((shown, already), (1, 1), "{answers:?}");
    assert_eq!(f.calls("api_query_auth").await, 1);
}

#[tokio::test]
async fn callback_and_push_at_the_same_time_exchange_once() {
    let (f, location) = authorized("race", &[17, 18]).await;
    let pushed = f.inbox().wait_for("<InfoType><![CDATA[authorized]]>").await;
    let ((status, page), (push_status, push_body)) =
        tokio::join!(f.callback_with(&location, false), f.deliver(&pushed));
    assert_eq!(
        (status, push_status, push_body.as_str()),
        (StatusCode::OK, StatusCode::OK, "success"),
        "{page}"
    );
    assert_eq!(f.calls("api_query_auth").await, 1);
}

#[tokio::test]
async fn revocation_removes_the_tokens_and_keeps_the_history() {
    let (f, location) = authorized("revoke", &[17, 18]).await;
    f.callback_with(&location, false).await;
    let authorized_push = f.inbox().wait_for("<InfoType><![CDATA[authorized]]>").await;
    let unauthorized = f.owner_revokes().await;
    f.delivered(&unauthorized).await;
    let stored = f.stored().await.unwrap();
    assert_eq!(stored.status, AuthorizerStatus::Unauthorized);
    assert!(stored.access_token.is_none() && stored.refresh_token.is_none());
    assert!(stored.authorized_at.is_some() && stored.unauthorized_at.is_some());
    // A late (older) authorized push does not bring the authorization back.
    f.delivered(&authorized_push).await;
    let still = f.stored().await.unwrap();
    assert_eq!(still.status, AuthorizerStatus::Unauthorized);
}

#[tokio::test]
async fn the_callback_is_placed_on_wechats_clock() {
    // WeChat's clock four minutes behind ours (pushes still fall inside the replay window). The
    // callback carries no time; taken from our clock it would be dated after the revocation that
    // follows it, and the revocation would be ignored as older.
    let (f, location) = authorized_with("clock-skew", &[17, 18], |config| {
        config.clock_start = Some(shared::store::unix_now() - 240)
    })
    .await;
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let authorized = f.stored().await.unwrap();
    let wechat_now = f.now();
    assert!(
        authorized.last_event_time <= wechat_now,
        "the callback is dated {} on WeChat's clock, now {wechat_now}",
        authorized.last_event_time
    );
    let unauthorized = f.owner_revokes().await;
    f.delivered(&unauthorized).await;
    let stored = f.stored().await.unwrap();
    assert_eq!(stored.status, AuthorizerStatus::Unauthorized);
}

#[tokio::test]
async fn an_expired_or_unknown_code_shows_a_clear_page() {
    let (f, location) = authorized("expired", &[18]).await;
    f.ctl.advance_clock(601).await;
    let (status, page) = f.callback_with(&location, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("expired") && page.contains("href=\"start\""),
        "{page}"
    );
    let (status, json) = f.callback_with(&location, true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json.contains("\"invalid_auth_code\""), "{json}");
    // A code WeChat does not know, with a state of its own: WeChat's 40029 says so.
    let state = platform_state(&f, shared::store::unix_now(), 600);
    let (status, json) = f
        .callback_with(
            &format!("x?state={state}&auth_code=queryauthcode@@@forged&expires_in=600"),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json.contains("\"invalid_auth_code\""), "{json}");
    let (status, json) = f.callback_with("x?expires_in=600", true).await;
    assert_eq!(
        (status, json.contains("missing_auth_code")),
        (StatusCode::BAD_REQUEST, true)
    );
    assert!(f.stored().await.is_none());
}

#[tokio::test]
async fn twenty_concurrent_token_requests_make_one_wechat_call() {
    let f = ticketed("token-race").await;
    let component = f.platform.component_service();
    let tokens = futures::future::join_all((0..20).map(|_| component.token())).await;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| t.unwrap().expose_secret().to_owned())
        .collect();
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "all callers got the one token"
    );
    assert_eq!(f.calls("api_component_token").await, 1);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_call_retried_once() {
    let f = ticketed("token-40001").await;
    let first = f.platform.component_service().token().await.unwrap();
    let refused = || json!({ "errcode": { "errcode": 40001 } });
    assert_eq!(
        f.ctl.fault("api_create_preauthcode", 1, refused()).await,
        204
    );
    let (status, body) = f.start_page(&[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(f.calls("api_create_preauthcode").await, 2);
    assert_eq!(f.calls("api_component_token").await, 2);
    let second = f.platform.component_service().token().await.unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret());
    // Two refusals in a row: the retry happens once, then the error is shown (WeChat refused: 502).
    f.ctl.fault("api_create_preauthcode", 2, refused()).await;
    assert_eq!(f.start_page(&[]).await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(f.calls("api_create_preauthcode").await, 4);
}

#[tokio::test]
async fn without_a_ticket_the_start_page_says_so_and_pushing_is_restarted() {
    let f = flow("no-ticket").await;
    let (status, body) = f.start_page(&[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("api_start_push_ticket"));
    assert_eq!(f.calls("api_start_push_ticket").await, 1);
    // The simulator answered by pushing a ticket; once it is in, the page works.
    let pushed = f.inbox().wait_for("component_verify_ticket").await;
    f.deliver(&pushed).await;
    let unknown_type = f.start_page(&[("auth_type", "9")]).await;
    assert_eq!(unknown_type.0, StatusCode::BAD_REQUEST);
    assert_eq!(f.start_page(&[]).await.0, StatusCode::OK);
}
