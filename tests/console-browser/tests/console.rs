//! The operator console in a real headless Chromium against the local platform (moto, the WeChat
//! simulator, the HTTP functions behind one origin): an operator signs in, authorizes a mini
//! program on WeChat's (simulated) page, commits, sees the trial QR code, submits, watches the
//! review pass, releases and reads the action log — without a terminal. Also: a refused token, and
//! an API error shown in words. Screenshots of each main page go to `target/console-screenshots`.

use auth_callback::AuthCallback;
use auth_start::AuthStart;
use code_admin::auth::token_hash;
use code_admin::{AdminTokens, PlatformCodeAdmin};
use console_browser::*;

use devstack::sim::{shop, template, Component, MiniProgramBuilder, Setup};
use devstack::simctl::fault;
use devstack::world::World;
use fantoccini::Client;
use serde_json::json;
use ticket_receive::PlatformReceiver;

const COMPONENT: &str = "wxconsolecomponent";
/// Authorized before the test: the demo mini program in the list.
const SHOP: &str = "wxconsoleshop00001";
/// Authorized by the operator in the browser during the test.
const NEW: &str = "wxconsolenew000001";
/// 256 bits, as `admin-token` prints them.
const TOKEN: &str = "Xq3vT9kLm2Pz8Rw4Yb6Nc1Hd5Gf7Js0Ae2Ku4Oi6Ul8";

struct Stack {
    world: World,
    api: LocalApi,
    _driver: Driver,
    browser: Client,
    webhooks: Option<WebhookRig>,
}

async fn stack(test: &str, width: u32, height: u32) -> Stack {
    stack_with(test, width, height, false).await
}

/// [`stack`], with the webhooks' bus, queue and delivery when `webhooks`.
async fn stack_with(test: &str, width: u32, height: u32, webhooks: bool) -> Stack {
    let component = Component::new(COMPONENT, "console-component-secret", "consoletoken");
    let world = Setup::new(&component)
        .mini_programs([
            shop(SHOP)
                .named("咖啡小店", "示例咖啡有限公司")
                .sets(&[17, 18]),
            shop(NEW)
                .named("新开的面包店", "示例面包有限公司")
                .sets(&[17, 18]),
        ])
        .configure(|config| {
            config.component.server_domains = vec!["example.com".into()];
            config.templates = vec![template(1, "1.0.0", "门店小程序", 0)];
        })
        .with_ticket()
        .start(test)
        .await;
    world.authorize(SHOP, &[17, 18]).await;
    let platform = world.platform.clone();
    let rig = match webhooks {
        true => Some(WebhookRig::start(&platform, test).await),
        false => None,
    };
    let api = LocalApi::serve(|base| Functions {
        admin: PlatformCodeAdmin::from_platform(
            &platform,
            AdminTokens::parse(&format!("ops:{}", token_hash(TOKEN))).unwrap(),
        )
        .with_webhooks(rig.as_ref().map(|r| r.admin.clone())),
        receiver: PlatformReceiver::from_platform(&platform).unwrap(),
        start: AuthStart::from_platform(&platform, format!("{base}/auth/callback")),
        callback: AuthCallback::from_platform(&platform),
    })
    .await;
    // WeChat pushes (the review result, the authorization) to this origin from now on.
    world.push_to(
        &api.url("/wechat/component/notify"),
        &api.url("/wechat/authorizer/$APPID$/notify"),
    );
    let driver = Driver::start().await;
    let browser = browser(&driver, width, height).await;
    Stack {
        world,
        api,
        _driver: driver,
        browser,
        webhooks: rig,
    }
}

async fn sign_in(s: &Stack, token: &str) {
    s.browser.goto(&s.api.url("/console/")).await.unwrap();
    watch_errors(&s.browser).await;
    fill(&s.browser, "#token", token).await;
    click(&s.browser, "#signin").await;
}

/// How many messages (notices or errors) the console has shown so far.
async fn messages(b: &Client) -> i64 {
    let count = b
        .execute(
            "return Number(document.body.dataset.messages || 0);",
            vec![],
        )
        .await
        .unwrap();
    count.as_i64().unwrap_or(0)
}

/// Clicks `button`, confirms, and waits for the message the action shows: its notice, or (when
/// `fails`) its error; the other kind fails the test.
async fn confirmed(b: &Client, button: &str, fails: bool) -> String {
    let before = messages(b).await;
    click(b, button).await;
    confirm(b).await;
    let shown = devstack::wait::poll(|| async { (messages(b).await > before).then_some(()) }).await;
    assert!(shown.is_some(), "{button}: no message shown");
    let error = find(b, "#error").await;
    let failed = error.is_displayed().await.unwrap();
    let text = match failed {
        true => error.text().await.unwrap(),
        false => find(b, "#notice").await.text().await.unwrap(),
    };
    assert_eq!(failed, fails, "{button}: {text}");
    text
}

/// [`confirmed`] for an action that must succeed: its notice.
async fn act(b: &Client, button: &str) -> String {
    confirmed(b, button, false).await
}

/// [`confirmed`] for an action that must fail: the error shown.
async fn act_failing(b: &Client, button: &str) -> String {
    confirmed(b, button, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_takes_a_mini_program_from_authorization_to_release() {
    let s = stack("console-journey", 1280, 900).await;
    let b = &s.browser;
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| {
        t.contains(SHOP) && t.contains("咖啡小店")
    })
    .await;
    screenshot(b, "mini-programs").await;
    // The token is in no URL the console opened.
    assert!(!b.current_url().await.unwrap().as_str().contains(TOKEN));

    // Authorization: the console's link → the platform's start page → WeChat's page → confirm.
    click(b, "#authorize-link").await;
    click(b, "#pc").await;
    click(b, &format!("#confirm-{NEW}")).await;
    let stored = devstack::wait::poll(|| async {
        use shared::store::AuthorizerStore;
        let store = s.world.platform.authorization_service();
        store
            .authorizers()
            .authorizer(NEW)
            .await
            .ok()
            .flatten()
            .filter(|a| a.has_code_management())
    })
    .await;
    assert!(stored.is_some(), "the authorization was stored");
    b.goto(&s.api.url("/console/#/mini-programs"))
        .await
        .unwrap();
    watch_errors(b).await;
    text_until(b, "#mp-table", |t| t.contains(NEW)).await;
    click(b, &format!("a.mp-link[data-appid='{NEW}']")).await;
    text_until(b, "#mp-name", |t| t.contains("新开的面包店")).await;

    // Commit template 1 (the library's only one) as 1.0.0.
    text_until(b, "#commit-template", |t| t.contains("门店小程序")).await;
    fill(b, "#commit-version", "1.0.0").await;
    fill(b, "#commit-desc", "开业版本").await;
    act(b, "#commit").await;
    assert_eq!(s.world.ctl.calls("commit").await, 1);

    // Readiness: the checks submit makes, before submitting.
    click(b, "#check-readiness").await;
    text_until(b, "#readiness", |t| {
        t.contains("commit") && t.contains("privacy")
    })
    .await;

    // The trial QR code, fetched with the token and shown as an image that loaded.
    click(b, "#show-qr").await;
    find(b, "#qrcode").await;
    let loaded = devstack::wait::poll(|| async {
        let width = b
            .execute(
                "return document.getElementById('qrcode').naturalWidth;",
                vec![],
            )
            .await
            .ok()?;
        (width.as_i64()? > 0).then_some(())
    })
    .await;
    assert!(loaded.is_some(), "the QR code image loaded");

    // Submit; the simulator's review passes and is pushed to the message URL.
    let submitted = act(b, "#submit-audit").await;
    assert_eq!(s.world.ctl.calls("submit_audit").await, 1);
    let auditid = submitted
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    assert!(
        !auditid.is_empty(),
        "the notice names the audit: {submitted}"
    );
    // Past the simulator's review time (5 s), within the platform's 5-minute push window.
    s.world.ctl.advance_clock(10).await;
    // "审核通过": passed, as the push told the platform; the page reads it again by itself.
    text_until(b, "#audits-table", |t| {
        t.contains(&auditid) && t.contains("审核通过")
    })
    .await;
    screenshot(b, "mini-program").await;

    // Release, then the action log shows each step.
    act(b, "#release").await;
    assert_eq!(s.world.ctl.calls("release").await, 1);
    assert_eq!(
        s.world.ctl.online_version(NEW).await.as_deref(),
        Some("1.0.0")
    );
    b.refresh().await.unwrap();
    watch_errors(b).await;
    let log = text_until(b, "#actions-table", |t| t.contains("Release")).await;
    for step in ["Commit", "SubmitAudit", "Release"] {
        assert!(log.contains(step), "{step} is in the action log: {log}");
    }
    text_until(b, "#audits-table", |t| t.contains("已发布")).await;
    assert_eq!(console_errors(b).await, Vec::<String>::new());

    // A rollout's preview: every eligible mini program, counted before anything is created.
    b.goto(&s.api.url("/console/#/rollouts")).await.unwrap();
    text_until(b, "#ro-template", |t| t.contains("1.0.0")).await;
    fill(b, "#ro-version", "1.1.0").await;
    click(b, "#ro-preview-button").await;
    text_until(b, "#ro-preview-count", |t| t == "2").await;
    screenshot(b, "rollouts").await;

    // The other main pages, in English this time.
    click(b, "#lang").await;
    b.goto(&s.api.url("/console/#/health")).await.unwrap();
    text_until(b, "#health", |t| t.contains("fresh") && t.contains("valid")).await;
    screenshot(b, "health").await;
    b.goto(&s.api.url("/console/#/templates")).await.unwrap();
    text_until(b, "#templates-table", |t| t.contains("1.0.0")).await;
    screenshot(b, "templates").await;
    click(b, "#signout").await;
    find(b, "#signin-form").await;
    let kept = b
        .execute("return sessionStorage.length;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(0), "signing out forgets the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_gets_its_own_page_and_nothing_is_called() {
    let s = stack("console-refused", 1280, 900).await;
    let b = &s.browser;
    let before = s.world.ctl.all_calls().await;
    sign_in(&s, "not-the-token-but-long-enough-to-be-hashed-000").await;
    let page = text_until(b, "#refused", |t| !t.is_empty()).await;
    assert!(page.contains("令牌被拒绝"), "{page}");
    assert!(b
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("#/refused"));
    let kept = b
        .execute("return sessionStorage.length;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(0), "a refused token is not kept");
    assert_eq!(s.world.ctl.all_calls().await, before, "no WeChat call");
    click(b, "#signin-again").await;
    find(b, "#signin-form").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_shown_in_words_on_a_phone() {
    let s = stack("console-errors", 390, 844).await;
    let b = &s.browser;
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    screenshot(b, "mini-programs-phone").await;
    b.goto(&s.api.url(&format!("/console/#/mp/{SHOP}")))
        .await
        .unwrap();
    find(b, "#tester-id").await;

    // A field error: the field and the rule, in words.
    let shown = act_failing(b, "#tester-bind").await;
    assert!(shown.contains("wechatid"), "{shown}");
    assert!(!shown.contains('{'), "no JSON: {shown}");

    // WeChat's refusal: its errcode and meaning.
    s.world
        .ctl
        .fault("bind_tester", 1, fault::errcode(40013))
        .await;
    fill(b, "#tester-id", "some_tester").await;
    let shown = act_failing(b, "#tester-bind").await;
    assert!(shown.contains("40013"), "{shown}");
    assert!(shown.contains("invalid appid"), "{shown}");
    assert!(!shown.contains('{'), "no JSON: {shown}");
    screenshot(b, "error-in-words").await;

    // Declining the confirmation calls nothing.
    let before = s.world.ctl.calls("release").await;
    click(b, "#release").await;
    click(b, "dialog[open] #confirm-no").await;
    assert_eq!(s.world.ctl.calls("release").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_review_shows_its_reason_and_screenshots() {
    let s = stack("console-rejected", 1280, 900).await;
    let b = &s.browser;
    let script = json!({ "appid": SHOP, "outcome": "reject", "after_secs": 5,
                         "reason": "首页空白，无法体验", "screenshot": "shotmedia01|shotmedia02" });
    assert_eq!(s.world.ctl.script_review(script).await, 204);
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    b.goto(&s.api.url(&format!("/console/#/mp/{SHOP}")))
        .await
        .unwrap();
    text_until(b, "#commit-template", |t| t.contains("门店小程序")).await;
    fill(b, "#commit-version", "2.0.0").await;
    act(b, "#commit").await;
    act(b, "#submit-audit").await;
    s.world.ctl.advance_clock(10).await;
    let table = text_until(b, "#audits-table", |t| t.contains("审核被拒")).await;
    assert!(table.contains("首页空白，无法体验"), "{table}");
    click(b, "#audits-table button[data-screenshots]").await;
    for i in 0..2 {
        let loaded = devstack::wait::poll(|| async {
            let script = format!(
                "const img = document.querySelector('#audits-table img.shot:nth-of-type({})'); \
                 return img ? img.naturalWidth : 0;",
                i + 1
            );
            let width = b.execute(&script, vec![]).await.ok()?;
            (width.as_i64()? > 0).then_some(())
        })
        .await;
        assert!(loaded.is_some(), "screenshot {i} loaded");
    }
    assert_eq!(s.world.ctl.calls("get_material").await, 2);
    screenshot(b, "rejected-review").await;
    assert_eq!(console_errors(b).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_created_after_its_preview_and_steered_from_its_page() {
    let s = stack("console-rollout", 1280, 900).await;
    let b = &s.browser;
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    b.goto(&s.api.url("/console/#/rollouts")).await.unwrap();
    text_until(b, "#ro-template", |t| t.contains("1.0.0")).await;
    fill(b, "#ro-name", "春季上新").await;
    fill(b, "#ro-version", "1.1.0").await;
    // Create: the console counts the targets first and asks with that count.
    click(b, "#ro-create").await;
    let question = text_until(b, "dialog[open] #confirm-text", |t| !t.is_empty()).await;
    assert!(
        question.contains('1'),
        "the question names the count: {question}"
    );
    confirm(b).await;
    text_until(b, "#rollout-summary", |t| t.contains("春季上新")).await;
    let summary = text_until(b, "#rollout-summary", |t| t.contains("进行中")).await;
    assert!(summary.contains(SHOP) || summary.contains('1'), "{summary}");
    text_until(b, "#targets-table", |t| t.contains(SHOP)).await;
    screenshot(b, "rollout").await;

    // Each control shown only while the status allows it.
    for (button, status) in [("#ro-pause", "已暂停"), ("#ro-resume", "进行中")] {
        act(b, button).await;
        text_until(b, "#rollout-summary h1", |t| t.contains(status)).await;
    }
    // One rollout, whatever the page's refreshes did.
    let rollouts = s
        .world
        .platform
        .rollouts()
        .expect("the world's rollout queue")
        .store()
        .rollouts_with_status(shared::rollout::RolloutStatus::Running)
        .await
        .unwrap();
    assert_eq!(rollouts.len(), 1);
    assert_eq!(rollouts[0].target_count, 1);
    assert_eq!(console_errors(b).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_made_its_secret_shown_once_and_its_test_event_delivered_signed() {
    let s = stack_with("console-webhook", 1280, 900, true).await;
    assert!(s.webhooks.is_some());
    let b = &s.browser;
    let receiver = devstack::webhooks::WebhookReceiver::start().await;
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    b.goto(&s.api.url("/console/#/webhooks")).await.unwrap();
    fill(b, "#hook-url", &receiver.url("/wechat-events")).await;
    fill(
        b,
        "#hook-events",
        "message.*, event.subscribe_msg_popup_event",
    )
    .await;
    act(b, "#hook-create").await;
    let secret = text_until(b, "#webhook-secret", |t| t.starts_with("whsec_")).await;
    receiver.set_secret(&secret);
    text_until(b, "#webhooks-table", |t| t.contains("/wechat-events")).await;
    screenshot(b, "webhooks").await;

    click(b, "#hook-open").await;
    text_until(b, "#hook-title", |t| t.contains("/wechat-events")).await;
    // The secret is in no page but the one right after creating it.
    let page = find(b, "main").await.text().await.unwrap();
    assert!(!page.contains(&secret), "the secret is shown once");
    act(b, "#hook-test").await;
    let table = text_until(b, "#deliveries-table", |t| t.contains("已投递")).await;
    assert!(table.contains("webhook.test"), "{table}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "delivered once");
    assert_eq!(hits[0].verified, Some(true), "signed with the secret shown");
    screenshot(b, "webhook").await;

    // A customer's message: stored by ticket-receive, published through the outbox, delivered
    // by the subscription's rule, signed; the push's page shows the delivery.
    let text = json!({ "appid": SHOP, "msg_type": "text", "fields": { "Content": "有外卖吗？" } });
    s.world.ctl.post("/sim/messages", text).await;
    let delivered = devstack::wait::poll(|| async {
        receiver.hits().into_iter().find(|h| {
            h.json()["detail"]["kind"] == "message.text" || h.json()["kind"] == "message.text"
        })
    })
    .await
    .expect("the customer's message reached the webhook");
    assert_eq!(
        delivered.verified,
        Some(true),
        "signed with the secret shown"
    );
    let event_id = delivered
        .event_id()
        .expect("the event id header")
        .to_owned();
    assert!(delivered
        .body
        .windows("有外卖吗？".len())
        .any(|w| w == "有外卖吗？".as_bytes()));
    b.goto(&s.api.url(&format!("/console/#/pushes/{event_id}")))
        .await
        .unwrap();
    text_until(b, "#push-deliveries", |t| t.contains("已投递")).await;
    assert_eq!(
        receiver
            .hits()
            .iter()
            .filter(|h| h.event_id() == Some(event_id.as_str()))
            .count(),
        1,
        "delivered once"
    );
    assert_eq!(console_errors(b).await, Vec::<String>::new());
}

/// A tiny PNG, base64: the onboarding's images.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

fn media(name: &str) -> serde_json::Value {
    json!({ "file_name": name, "content_type": "image/png", "base64": PNG })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_shows_its_steps_and_a_rejected_name_is_fixed_from_the_console() {
    let s = stack("console-onboarding", 1280, 900).await;
    let b = &s.browser;
    let ctl = &s.world.ctl;
    let durations = json!({ "nickname_secs": 5, "category_secs": 5, "face_secs": 5, "platform_secs": 5, "authority_secs": 5 });
    ctl.post("/sim/onboarding/durations", durations).await;
    let rejection =
        json!({ "appid": SHOP, "review": "nickname", "pass": false, "reason": "名称涉嫌侵权" });
    ctl.post("/sim/onboarding/outcomes", rejection).await;
    let worker =
        rollout_worker::Worker::from_platform(&s.world.platform, Default::default()).unwrap();
    // The schedule's run ({"mode":"onboarding"}), as EventBridge Scheduler would start it.
    let tick = || async {
        rollout_worker::handle(&worker, json!({ "mode": "onboarding" }))
            .await
            .unwrap();
    };

    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    b.goto(&s.api.url("/console/#/onboardings")).await.unwrap();
    let request = json!({ "appid": SHOP, "profile": {
        "nickname": { "nick_name": "示例点单助手", "license": media("license.png") },
        "avatar": media("avatar.png"),
        "signature": "门店点单与订单查询",
        "categories": [{ "first": 287, "second": 289 }],
    }});
    fill(b, "#onb-json", &request.to_string()).await;
    act(b, "#onb-create").await;
    let nickname = "#onb-steps li[data-step='nickname']";
    text_until(b, nickname, |t| t.contains("等待微信")).await;

    // WeChat's review ends and is pushed; the schedule folds it in; the page shows the field.
    ctl.advance_clock(6).await;
    let rejected = devstack::wait::poll(|| async {
        tick().await;
        let step = b.find(fantoccini::Locator::Css(nickname)).await.ok()?;
        let status = step.attr("data-status").await.ok()??;
        (status == "needs_operator").then_some(())
    })
    .await;
    assert!(rejected.is_some(), "the rejection reached the page");
    let step = text_until(b, nickname, |t| t.contains("名称涉嫌侵权")).await;
    assert!(step.contains("profile.nickname.nick_name"), "{step}");
    text_until(b, "#onb-title", |t| t.contains("需要处理")).await;
    screenshot(b, "onboarding").await;

    // The operator's fix, from the page: the name resubmitted, its review under way again.
    let fix =
        json!({ "nickname": { "nick_name": "示例点单小帮手", "license": media("license.png") } });
    fill(b, "#onb-patch", &fix.to_string()).await;
    act(b, "#onb-resubmit").await;
    text_until(b, nickname, |t| t.contains("等待微信")).await;
    assert_eq!(ctl.calls("setnickname").await, 2);
    assert_eq!(console_errors(b).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_is_listed_with_its_fields_and_xml() {
    let s = stack("console-pushes", 1280, 900).await;
    let b = &s.browser;
    let text = json!({ "appid": SHOP, "msg_type": "text", "fields": { "Content": "请问几点开门？" }, "deliveries": 2 });
    let answered = s.world.ctl.post("/sim/messages", text).await;
    assert!(answered.to_string().contains("success"), "{answered}");
    sign_in(&s, TOKEN).await;
    text_until(b, "#mp-table", |t| t.contains(SHOP)).await;
    // The mini program's pushes of this kind (its authorization's events are listed too, and
    // which is newest depends on two clocks).
    b.goto(&s.api.url(&format!("/console/#/pushes?appid={SHOP}")))
        .await
        .unwrap();
    text_until(b, "#pushes-table", |t| t.contains("message.text")).await;
    fill(b, "#push-kind", "message.text").await;
    click(b, "#push-filter").await;
    let list = text_until(b, "#pushes-table", |t| {
        t.contains("message.text") && !t.contains("platform.")
    })
    .await;
    // WeChat's retry of the same message is the same push: listed once.
    assert_eq!(list.matches("message.text").count(), 1, "{list}");
    click(b, "#pushes-table a.push-link").await;
    let fields = text_until(b, "#push-fields", |t| t.contains("请问几点开门？")).await;
    assert!(fields.contains("Content"), "{fields}");
    text_until(b, "#push-xml", |t| {
        t.contains("<MsgType><![CDATA[text]]></MsgType>")
    })
    .await;
    screenshot(b, "push").await;
    assert_eq!(console_errors(b).await, Vec::<String>::new());
}
