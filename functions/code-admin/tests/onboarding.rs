//! Onboarding end to end through the WeChat simulator and moto: a fast-registered mini program
//! named, given an avatar and an introduction, categorized, filed (备案) and released, driven
//! only by admin calls, the pushes (delivered to ticket-receive) and the schedule
//! (rollout-worker's `{"mode":"onboarding"}`); a rejected name resubmitted; a filing refused with
//! hints, fixed and approved; an expired face verification re-created; runs stopped mid-step
//! resumed without a second WeChat call for what was done; bad input refused before WeChat.

use code_admin::PlatformCodeAdmin;
use devstack::apigw::body_text;
use devstack::sim::{enterprise, template, Component, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use rollout_worker::Worker;
use serde_json::{json, Value};
use ticket_receive::PlatformReceiver;

mod common;

const APPID: &str = "wxonbcomponent0001";
const TEMPLATE: i64 = 1;
/// A tiny PNG, base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

struct Onboard {
    world: World,
    admin: PlatformCodeAdmin,
    receiver: PlatformReceiver,
    worker: Worker,
}

devstack::deref_world!(Onboard);

async fn world(test: &str) -> Onboard {
    let world = Setup::new(&Component::new(APPID, "onb-secret", "onbtoken"))
        .configure(|c| {
            let mut shop = template(TEMPLATE, "1.0.0", "shop", 0);
            shop.pages = vec!["pages/index/index".into()];
            c.templates = vec![shop];
        })
        .pushes_to_inbox()
        .messages_to_inbox()
        .with_ticket()
        .start(test)
        .await;
    let durations = json!({ "nickname_secs": 5, "category_secs": 5, "face_secs": 5, "platform_secs": 5, "authority_secs": 5, "face_expiry_secs": 30 });
    world.ctl.post("/sim/onboarding/durations", durations).await;
    Onboard {
        admin: PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens()),
        receiver: PlatformReceiver::from_platform(&world.platform).unwrap(),
        worker: Worker::from_platform(&world.platform, Default::default()).unwrap(),
        world,
    }
}

fn media(name: &str) -> Value {
    json!({ "file_name": name, "content_type": "image/png", "base64": PNG })
}

fn filing(mobile: &str) -> Value {
    json!({
        "icp_subject": {
            "base_info": { "type": 1, "name": "示例科技有限公司" },
            "principal_info": { "name": "张三", "mobile": mobile, "certificate_type": 2 },
        },
        "icp_applets": {
            "base_info": {
                "service_content_types": [11],
                "nrlx_details": [{ "type": 1 }],
                "comment": "一个帮助门店顾客在线点单与查询订单的工具类小程序",
            },
            "principal_info": { "name": "张三", "mobile": mobile },
        },
        "media": [{
            "icp_order_field": "icp_subject.principal_info.certificate_photo_front",
            "media_type": "image",
            "certificate_type": 2,
            "media": media("id-front.png"),
        }],
    })
}

fn profile(name: &str) -> Value {
    json!({
        "nickname": { "nick_name": name, "license": media("license.png") },
        "avatar": media("avatar.png"),
        "signature": "门店点单与订单查询",
        "categories": [{ "first": 287, "second": 289 }],
        "filing": filing("13800138000"),
    })
}

fn step<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {o}"))
}

impl Onboard {
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let answer = common::call(&self.admin, method, path, body).await;
        (answer.status, answer.body)
    }

    /// A fast registration confirmed and pushed: the new mini program's appid and the task's id.
    async fn registered(&self) -> (String, String) {
        let (status, answer) = self
            .call("POST", "/admin/registrations", enterprise())
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let id = answer["registration"]["id"].as_str().unwrap().to_owned();
        let taskid = self.ctl.newest_registration().await;
        self.ctl.confirm_registration(&taskid).await;
        self.deliver("notify_third_fasteregister", 1).await;
        let (_, task) = self
            .call("GET", &format!("/admin/registrations/{id}"), Value::Null)
            .await;
        (
            task["registration"]["appid"].as_str().unwrap().to_owned(),
            id,
        )
    }

    /// The `count`th push containing `kind`, delivered to ticket-receive (answered `success`).
    async fn deliver(&self, kind: &str, count: usize) {
        let pushes = self.inbox().wait_for_count(kind, count).await;
        let response = ticket_receive::handle(&self.receiver, pushes[count - 1].request())
            .await
            .unwrap();
        assert_eq!(
            (response.status(), body_text(&response).as_str()),
            (StatusCode::OK, "success")
        );
    }

    /// The schedule's run.
    async fn tick(&self) -> Value {
        rollout_worker::handle(&self.worker, json!({ "mode": "onboarding" }))
            .await
            .unwrap()
    }

    async fn start(&self, body: Value) -> Value {
        let (status, answer) = self.call("POST", "/admin/onboardings", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["onboarding"].clone()
    }

    async fn get(&self, id: &str) -> Value {
        let (status, answer) = self
            .call("GET", &format!("/admin/onboardings/{id}"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["onboarding"].clone()
    }

    /// A review ends on the simulated clock: its push (the `count`th of `kind`) delivered, then
    /// the schedule runs; the onboarding after.
    async fn review_ends(&self, id: &str, kind: &str, count: usize) -> Value {
        self.ctl.advance_clock(6).await;
        self.deliver(kind, count).await;
        self.tick().await;
        self.get(id).await
    }

    /// Waits until the simulator has ended the face-verification task (its resolver runs on
    /// its own).
    async fn task_finished(&self, task_id: &str) {
        let finished = devstack::wait::poll(|| async {
            let sim = self.ctl.get("/sim/onboarding").await;
            sim["tasks"]
                .as_array()?
                .iter()
                .find(|t| t["task_id"] == task_id && t["is_finish"] == true)
                .map(|_| ())
        })
        .await;
        assert!(finished.is_some(), "task {task_id} never finished");
    }

    /// From a fresh onboarding (waiting for the name's review) to filed, every review passing.
    async fn through_to_filed(&self, id: &str) -> Value {
        let o = self.review_ends(id, "wxa_nickname_audit", 1).await;
        assert_eq!(step(&o, "category")["status"], "waiting", "{o}");
        let o = self.review_ends(id, "wxa_category_audit", 1).await;
        assert_eq!(step(&o, "face_verification")["status"], "waiting", "{o}");
        let o = self
            .review_ends(id, "notify_icpfiling_verify_result", 1)
            .await;
        assert_eq!(step(&o, "filing_review")["status"], "waiting", "{o}");
        self.review_ends(id, "notify_apply_icpfiling_result", 1)
            .await;
        self.review_ends(id, "notify_apply_icpfiling_result", 2)
            .await
    }
}

#[tokio::test]
async fn a_fast_registered_mini_program_goes_from_nothing_to_released() {
    let w = world("onb_released").await;
    let (appid, registration) = w.registered().await;
    let o = w
        .start(json!({ "registration_id": registration, "profile": profile("示例点单助手") }))
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(o["appid"], appid);
    assert_eq!(
        (o["state"].as_str(), o["current_step"].as_str()),
        (Some("waiting"), Some("nickname")),
        "{o}"
    );
    assert_eq!(
        o["progress"]["quotas"]["nickname"]["modify_quota"], 2,
        "quotas shown before spent"
    );
    // Files are answered as their sizes only.
    assert!(o["profile"]["avatar"].get("base64").is_none());

    let mp = |path: &str| format!("/admin/authorizers/{appid}{path}");
    // Code is committed while the filing runs.
    let (status, answer) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": TEMPLATE, "user_version": "1.0.0", "ext_json": {} }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let guideline = json!({
        "owner_setting": { "contact_email": "privacy@shop.example.com", "notice_method": "弹窗提示" },
        "setting_list": [],
    });
    let (status, answer) = w.call("PUT", &mp("/privacy"), guideline).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Not filed: readiness says so, a release is refused before WeChat is called.
    let (status, readiness) = w.call("GET", &mp("/readiness"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{readiness}");
    let filing = readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "icp_filing")
        .cloned();
    assert_eq!(
        filing.as_ref().map(|c| c["ok"].clone()),
        Some(json!(false)),
        "{readiness}"
    );
    assert!(filing.unwrap()["detail"]
        .as_str()
        .unwrap()
        .starts_with("ICP filing not approved"));
    let (status, refused) = w.call("POST", &mp("/release"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused.to_string().contains("ICP filing not approved"),
        "{refused}"
    );
    assert_eq!(w.ctl.calls("release").await, 0);
    // Nor does a rollout take it: named, it is refused; with every mini program, left out.
    let rollout = json!({ "template_id": TEMPLATE, "user_version": "1.0.1", "targets": { "appids": [appid] }, "release": "auto" });
    let (status, refused) = w.call("POST", "/admin/rollouts", rollout).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "targets.appids[0]");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("ICP filing not approved"),
        "{refused}"
    );
    let everyone = json!({ "template_id": TEMPLATE, "user_version": "1.0.1", "targets": { "all": true }, "release": "auto" });
    let (status, refused) = w.call("POST", "/admin/rollouts", everyone).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("targets")),
        "{refused}"
    );

    let o = w.through_to_filed(&id).await;
    assert_eq!(
        (o["state"].as_str(), o["filed"].as_bool()),
        (Some("ready"), Some(true)),
        "{o}"
    );
    let sim = w.ctl.get("/sim/onboarding").await;
    assert_eq!(sim["accounts"][&appid]["filing_status"], 6);
    for (endpoint, calls) in [
        ("setnickname", 1),
        ("upload", 2),
        ("modifyheadimage", 1),
        ("modifysignature", 1),
        ("addcategory", 1),
        ("upload_icp_media", 1),
        ("create_icp_verifytask", 1),
        ("apply_icp_filing", 1),
    ] {
        assert_eq!(w.ctl.calls(endpoint).await, calls, "{endpoint}");
    }
    // Every step's call is in the action log.
    let (_, actions) = w.call("GET", &mp("/actions"), Value::Null).await;
    assert!(
        actions.to_string().contains("Onboarding.filing_apply"),
        "{actions}"
    );

    // Code: reviewed and released.
    let (status, answer) = w.call("POST", &mp("/audits"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    w.ctl.advance_clock(6).await;
    w.deliver("weapp_audit_success", 1).await;
    let (status, answer) = w.call("POST", &mp("/release"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(w.ctl.online_version(&appid).await.as_deref(), Some("1.0.0"));

    // Ended: the mini program may have another onboarding; the list shows this one.
    let (_, list) = w.call("GET", "/admin/onboardings", Value::Null).await;
    assert_eq!(list["onboardings"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_rejected_name_is_resubmitted() {
    let w = world("onb_name_rejected").await;
    let (appid, _) = w.registered().await;
    w.ctl
        .post("/sim/onboarding/outcomes", json!({ "appid": appid, "review": "nickname", "pass": false, "reason": "名称涉嫌侵权" }))
        .await;
    let o = w
        .start(json!({ "appid": appid, "profile": profile("示例点单助手") }))
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    let o = w.review_ends(&id, "wxa_nickname_audit", 1).await;
    let nickname = step(&o, "nickname");
    assert_eq!(
        (o["state"].as_str(), nickname["status"].as_str()),
        (Some("needs_operator"), Some("needs_operator")),
        "{o}"
    );
    assert_eq!(
        nickname["field_errors"][0]["field"],
        "profile.nickname.nick_name"
    );
    assert_eq!(nickname["field_errors"][0]["message"], "名称涉嫌侵权");
    assert!(nickname["next"].as_str().unwrap().contains("resubmit"));
    // The schedule leaves it to the operator: nothing more is asked of WeChat.
    let before = w.ctl.all_calls().await;
    w.tick().await;
    assert_eq!(w.ctl.all_calls().await, before);

    let (status, answer) = w
        .call("POST", &format!("/admin/onboardings/{id}/resubmit"), json!({ "profile": { "nickname": { "nick_name": "示例点单小帮手", "license": media("license.png") } } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        step(&answer["onboarding"], "nickname")["status"],
        "waiting",
        "{answer}"
    );
    let o = w.review_ends(&id, "wxa_nickname_audit", 2).await;
    assert_eq!(step(&o, "nickname")["status"], "done", "{o}");
    assert_eq!(w.ctl.calls("setnickname").await, 2);
}

#[tokio::test]
async fn a_filing_refused_with_hints_is_fixed_and_approved() {
    let w = world("onb_filing_hints").await;
    let (appid, _) = w.registered().await;
    let mut bad = profile("示例点单助手");
    bad["filing"] = filing("0755-8601");
    let o = w.start(json!({ "appid": appid, "profile": bad })).await;
    let id = o["id"].as_str().unwrap().to_owned();
    w.review_ends(&id, "wxa_nickname_audit", 1).await;
    w.review_ends(&id, "wxa_category_audit", 1).await;
    let o = w
        .review_ends(&id, "notify_icpfiling_verify_result", 1)
        .await;
    let apply = step(&o, "filing_apply");
    assert_eq!(apply["status"], "needs_operator", "{o}");
    assert_eq!(apply["errcode"], 86202);
    let fields: Vec<&str> = apply["field_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["profile.filing.icp_subject.principal_info.mobile"],
        "{o}"
    );

    let (status, answer) = w
        .call(
            "POST",
            &format!("/admin/onboardings/{id}/resubmit"),
            json!({ "profile": { "filing": filing("13800138000") } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let o = &answer["onboarding"];
    assert_eq!(step(o, "filing_review")["status"], "waiting", "{o}");
    // The passed face verification was used again: no second notice to the legal person.
    assert_eq!(w.ctl.calls("create_icp_verifytask").await, 1);
    w.review_ends(&id, "notify_apply_icpfiling_result", 1).await;
    let o = w.review_ends(&id, "notify_apply_icpfiling_result", 2).await;
    assert_eq!(o["state"], "ready", "{o}");
    assert_eq!(w.ctl.calls("apply_icp_filing").await, 2);
}

#[tokio::test]
async fn an_expired_face_verification_task_is_created_again() {
    let w = world("onb_face_expired").await;
    let (appid, _) = w.registered().await;
    w.ctl
        .post(
            "/sim/onboarding/outcomes",
            json!({ "appid": appid, "review": "face", "never": true }),
        )
        .await;
    let o = w
        .start(json!({ "appid": appid, "profile": profile("示例点单助手") }))
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    w.review_ends(&id, "wxa_nickname_audit", 1).await;
    let o = w.review_ends(&id, "wxa_category_audit", 1).await;
    let face = step(&o, "face_verification");
    assert_eq!(face["status"], "waiting", "{o}");
    assert!(face["next"]
        .as_str()
        .unwrap()
        .starts_with("waiting for face verification"));
    let first_task = o["progress"]["verify_task"]["task_id"].clone();
    assert!(
        face["deadline"].as_i64().unwrap()
            > o["progress"]["verify_task"]["created_at"].as_i64().unwrap()
    );

    // The task's life passes without the legal person (24 h at WeChat, 30 s in this simulator):
    // the schedule finds it finished unverified and creates another (WeChat sends a new notice).
    w.ctl.advance_clock(31).await;
    w.task_finished(first_task.as_str().unwrap()).await;
    w.tick().await;
    let o = w.get(&id).await;
    let face = step(&o, "face_verification");
    assert_eq!(face["status"], "waiting", "{o}");
    assert!(
        face["next"].as_str().unwrap().contains("expired or failed"),
        "{o}"
    );
    assert_ne!(o["progress"]["verify_task"]["task_id"], first_task);
    assert_eq!(o["progress"]["verify_task"]["replaces"], 1);
    assert_eq!(w.ctl.calls("create_icp_verifytask").await, 2);
    // The next one is verified: the schedule polls (its push is left undelivered).
    w.ctl.advance_clock(6).await;
    w.inbox()
        .wait_for_count("notify_icpfiling_verify_result", 1)
        .await;
    w.tick().await;
    let o = w.get(&id).await;
    assert_eq!(step(&o, "face_verification")["status"], "done", "{o}");
    assert_eq!(step(&o, "filing_apply")["status"], "done", "{o}");
}

#[tokio::test]
async fn runs_stopped_mid_step_resume_without_repeating_what_was_done() {
    let w = world("onb_crash_resume").await;
    let (appid, _) = w.registered().await;
    // Each step's second call fails once (WeChat 500): the run stops after the first call's
    // result is stored, and the next run makes only what is left.
    for endpoint in [
        "setnickname",
        "modifyheadimage",
        "addcategory",
        "create_icp_verifytask",
        "apply_icp_filing",
    ] {
        w.ctl
            .fault(endpoint, 1, devstack::simctl::fault::http_status(500))
            .await;
    }
    let o = w
        .start(json!({ "appid": appid, "profile": profile("示例点单助手") }))
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(step(&o, "nickname")["status"], "retrying", "{o}");
    w.tick().await;
    w.review_ends(&id, "wxa_nickname_audit", 1).await;
    // modifyheadimage failed once; addcategory failed once; each resumed by the next run.
    w.tick().await;
    w.tick().await;
    w.review_ends(&id, "wxa_category_audit", 1).await;
    w.tick().await;
    w.review_ends(&id, "notify_icpfiling_verify_result", 1)
        .await;
    w.tick().await;
    w.review_ends(&id, "notify_apply_icpfiling_result", 1).await;
    let o = w.review_ends(&id, "notify_apply_icpfiling_result", 2).await;
    assert_eq!(o["state"], "ready", "{o}");
    for (endpoint, calls) in [
        // The name check: once at validation, once by the step; never again.
        ("checkwxverifynickname", 2),
        ("upload", 2),
        ("upload_icp_media", 1),
        // One failed + one made.
        ("setnickname", 2),
        ("modifyheadimage", 2),
        ("addcategory", 2),
        ("create_icp_verifytask", 2),
        ("apply_icp_filing", 2),
        ("modifysignature", 1),
    ] {
        assert_eq!(w.ctl.calls(endpoint).await, calls, "{endpoint}");
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_wechat_and_a_second_onboarding_is_409() {
    let w = world("onb_bad_input").await;
    let (appid, _) = w.registered().await;
    w.ctl
        .post("/sim/onboarding/words", json!({ "banned": ["官方"] }))
        .await;
    let cases = [
        (json!({ "profile": profile("示例点单助手") }), "appid"),
        (json!({ "appid": appid }), "profile"),
        (
            json!({ "appid": appid, "profile": profile("短") }),
            "profile.nickname.nick_name",
        ),
        (
            json!({ "appid": appid, "profile": { "avatar": { "file_name": "a.png", "content_type": "image/png", "base64": "%%" } } }),
            "profile.avatar.base64",
        ),
        (
            json!({ "appid": appid, "profile": { "avatar": { "file_name": "a.png", "content_type": "image/png", "base64": "A".repeat(60_000) } } }),
            "profile.avatar.base64",
        ),
        (
            json!({ "appid": appid, "profile": { "signature": "短" } }),
            "profile.signature",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = w.call("POST", "/admin/onboardings", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let mut filing_bad = profile("示例点单助手");
    filing_bad["filing"]["icp_applets"]["base_info"]["service_content_types"] =
        json!([1, 2, 3, 11, 12, 2]);
    let mut no_nrlx = profile("示例点单助手");
    no_nrlx["filing"]["icp_applets"]["base_info"]
        .as_object_mut()
        .unwrap()
        .remove("nrlx_details");
    for (profile, field) in [
        (
            filing_bad,
            "profile.filing.icp_applets.base_info.service_content_types",
        ),
        (no_nrlx, "profile.filing.icp_applets.base_info.nrlx_details"),
    ] {
        let (status, answer) = w
            .call(
                "POST",
                "/admin/onboardings",
                json!({ "appid": appid, "profile": profile }),
            )
            .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{answer}"
        );
    }
    assert_eq!(
        w.ctl.calls("checkwxverifynickname").await,
        0,
        "refused before WeChat"
    );
    // WeChat's own checks that change nothing: a banned word, a level-1 service type.
    let (status, answer) = w
        .call(
            "POST",
            "/admin/onboardings",
            json!({ "appid": appid, "profile": profile("示例官方点单") }),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("profile.nickname.nick_name")),
        "{answer}"
    );
    let mut unknown = profile("示例点单助手");
    unknown["categories"] = json!([{ "first": 287, "second": 305 }]);
    let (status, answer) = w
        .call(
            "POST",
            "/admin/onboardings",
            json!({ "appid": appid, "profile": unknown }),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("profile.categories[0]")),
        "{answer}"
    );
    let mut level1 = profile("示例点单助手");
    level1["filing"]["icp_applets"]["base_info"]["service_content_types"] = json!([10]);
    let (status, answer) = w
        .call(
            "POST",
            "/admin/onboardings",
            json!({ "appid": appid, "profile": level1 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["field"],
        "profile.filing.icp_applets.base_info.service_content_types[0]"
    );
    // Nothing was stored, nothing changed at WeChat.
    let (_, list) = w.call("GET", "/admin/onboardings", Value::Null).await;
    assert_eq!(list["onboardings"], json!([]));
    assert_eq!(
        w.ctl.calls("upload").await + w.ctl.calls("setnickname").await,
        0
    );

    w.start(json!({ "appid": appid, "profile": profile("示例点单助手") }))
        .await;
    let (status, answer) = w
        .call(
            "POST",
            "/admin/onboardings",
            json!({ "appid": appid, "profile": profile("示例点单助手") }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (_, list) = w.call("GET", "/admin/onboardings", Value::Null).await;
    assert_eq!(list["onboardings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_filing_rejected_in_review_is_fixed_and_filed() {
    let w = world("onb_filing_rejected").await;
    let (appid, _) = w.registered().await;
    let reason = json!({ "key_name": "icp_applets.base_info.comment", "error": "服务内容描述不清", "suggest": "写明小程序提供的服务" });
    w.ctl
        .post(
            "/sim/onboarding/outcomes",
            json!({ "appid": appid, "review": "platform", "pass": false, "audit_data": [reason] }),
        )
        .await;
    let o = w
        .start(json!({ "appid": appid, "profile": profile("示例点单助手") }))
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    w.review_ends(&id, "wxa_nickname_audit", 1).await;
    w.review_ends(&id, "wxa_category_audit", 1).await;
    w.review_ends(&id, "notify_icpfiling_verify_result", 1)
        .await;
    let o = w.review_ends(&id, "notify_apply_icpfiling_result", 1).await;
    let review = step(&o, "filing_review");
    assert_eq!(
        (o["state"].as_str(), review["status"].as_str()),
        (Some("needs_operator"), Some("needs_operator")),
        "{o}"
    );
    assert_eq!(
        review["field_errors"][0]["field"],
        "profile.filing.icp_applets.base_info.comment"
    );
    assert!(
        review["next"]
            .as_str()
            .unwrap()
            .contains("rejected by the platform"),
        "{o}"
    );

    let mut fixed = filing("13800138000");
    fixed["icp_applets"]["base_info"]["comment"] =
        json!("门店顾客在线点单、查询订单进度与领取优惠券的工具类小程序");
    let (status, answer) = w
        .call(
            "POST",
            &format!("/admin/onboardings/{id}/resubmit"),
            json!({ "profile": { "filing": fixed } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        step(&answer["onboarding"], "filing_review")["status"],
        "waiting",
        "{answer}"
    );
    w.review_ends(&id, "notify_apply_icpfiling_result", 2).await;
    let o = w.review_ends(&id, "notify_apply_icpfiling_result", 3).await;
    assert_eq!(o["state"], "ready", "{o}");
    let sim = w.ctl.get("/sim/onboarding").await;
    assert_eq!(
        sim["accounts"][&appid]["filing"]["icp_applets"]["base_info"]["comment"],
        "门店顾客在线点单、查询订单进度与领取优惠券的工具类小程序"
    );
    assert_eq!(w.ctl.calls("apply_icp_filing").await, 2);
    assert_eq!(w.ctl.calls("create_icp_verifytask").await, 1);
}
