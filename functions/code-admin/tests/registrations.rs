//! Fast registration end to end through the WeChat simulator and moto ("快速注册企业小程序"
//! (fastregisterweapp)): `POST /admin/registrations` → the legal person confirms → the
//! `notify_third_fasteregister` push delivered to ticket-receive → the new mini program stored as
//! an authorizer with its tokens and permission sets, linked to the task; a failed one; WeChat's
//! refusals; input refused before WeChat is called; a retried push changing nothing.

use code_admin::PlatformCodeAdmin;
use devstack::apigw::body_text;
use devstack::sim::{enterprise, Component, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::store::{ActionLog, DynamoActionLog};
use ticket_receive::PlatformReceiver;

mod common;

const APPID: &str = "wxregcomponent0001";

struct Registrations {
    world: World,
    admin: PlatformCodeAdmin,
    receiver: PlatformReceiver,
}

devstack::deref_world!(Registrations);

async fn world(test: &str) -> Registrations {
    let world = Setup::new(&Component::new(APPID, "reg-secret", "regtoken"))
        .pushes_to_inbox()
        .with_ticket()
        .start(test)
        .await;
    Registrations {
        admin: PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens()),
        receiver: PlatformReceiver::from_platform(&world.platform).unwrap(),
        world,
    }
}

impl Registrations {
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let answer = common::call(&self.admin, method, path, body).await;
        (answer.status, answer.body)
    }

    /// POST /admin/registrations; answers the task's id.
    async fn create(&self, body: Value) -> String {
        let (status, answer) = self.call("POST", "/admin/registrations", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["registration"]["state"], "pending", "{answer}");
        answer["registration"]["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, id: &str) -> Value {
        let (status, answer) = self
            .call("GET", &format!("/admin/registrations/{id}"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    /// The legal person confirms the newest task; its push (the `count`th) is delivered to
    /// ticket-receive, which must answer `success`.
    async fn confirm_and_deliver(&self, count: usize) -> String {
        let taskid = self.ctl.newest_registration().await;
        self.ctl.confirm_registration(&taskid).await;
        self.deliver(count).await;
        taskid
    }

    async fn deliver(&self, count: usize) {
        let pushes = self
            .inbox()
            .wait_for_count("notify_third_fasteregister", count)
            .await;
        let response = ticket_receive::handle(&self.receiver, pushes[count - 1].request())
            .await
            .unwrap();
        assert_eq!(
            (response.status(), body_text(&response).as_str()),
            (StatusCode::OK, "success")
        );
    }

    async fn wechat_calls(&self) -> u64 {
        self.ctl.calls("fastregisterweapp").await
    }
}

#[tokio::test]
async fn a_fast_registration_ends_in_a_stored_authorizer_linked_to_its_task() {
    let w = world("fastreg_success").await;
    let id = w.create(enterprise()).await;
    assert_eq!(w.wechat_calls().await, 1);
    // Still pending: GET asks WeChat (search) and stores its answer.
    let pending = w.get(&id).await;
    let task = &pending["registration"];
    assert_eq!(task["state"], "pending");
    assert_eq!(task["search"]["errcode"], 89251, "{pending}");
    assert_eq!(
        task["search"]["meaning"],
        "awaiting the legal person's face check"
    );
    assert_eq!(w.wechat_calls().await, 2);
    // The legal person's data is answered masked only.
    assert_eq!(task["legal_persona_wechat"], "le***");
    assert_eq!(task["legal_persona_name"], "张***");
    assert_eq!(task["component_phone"], "***3388");

    let taskid = w.confirm_and_deliver(1).await;
    let done = w.get(&id).await;
    let task = &done["registration"];
    assert_eq!(task["state"], "succeeded", "{done}");
    assert_eq!(task["push"]["status"], 0);
    let appid = task["appid"].as_str().expect("the linked mini program");
    assert_eq!(done["authorizer"]["appid"], appid);
    assert_eq!(
        done["authorizer"]["permission_sets"],
        json!([17, 18, 25, 30, 31])
    );
    assert_eq!(done["authorizer"]["has_access_token"], true);
    // The stored refresh token is WeChat's; the code was exchanged once; an ended task is not
    // searched.
    assert_eq!(
        w.stored_refresh_token(appid).await,
        w.ctl.current_refresh_token(appid).await
    );
    assert_eq!(w.ctl.calls("api_query_auth").await, 1);
    assert_eq!(w.wechat_calls().await, 2);

    // WeChat's retry of the same push changes nothing and spends nothing.
    let before = w.world.authorizer_item(appid).await;
    w.ctl.push_registration_again(&taskid).await;
    w.deliver(2).await;
    assert_eq!(w.ctl.calls("api_query_auth").await, 1);
    assert_eq!(w.get(&id).await["registration"], *task);
    assert_eq!(w.world.authorizer_item(appid).await, before);

    // The list shows the one task; the action log has the call without the legal person.
    let (_, list) = w.call("GET", "/admin/registrations", Value::Null).await;
    assert_eq!(list["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(list["registrations"][0]["id"], id.as_str());
    let log = DynamoActionLog::new(w.platform.dynamo.clone(), &w.platform.tables.actions);
    let actions = log.actions("platform", 10).await.unwrap();
    let text = serde_json::to_string(&actions).unwrap();
    assert!(text.contains("CreateRegistration"), "{text}");
    for personal in ["legal_wx01", "张三", "86013388"] {
        assert!(
            !text.contains(personal),
            "{personal} in the action log: {text}"
        );
    }
}

#[tokio::test]
async fn a_failed_registration_is_stored_with_wechat_status_and_message() {
    let w = world("fastreg_failed").await;
    w.ctl
        .next_registration_push(-1, "authorize third party failed")
        .await;
    let id = w.create(enterprise()).await;
    w.confirm_and_deliver(1).await;
    let answer = w.get(&id).await;
    let task = &answer["registration"];
    assert_eq!(task["state"], "failed", "{answer}");
    assert_eq!(
        task["push"],
        json!({ "status": -1, "msg": "authorize third party failed", "create_time": task["push"]["create_time"] })
    );
    assert!(task["appid"].is_null() && answer["authorizer"].is_null());
    assert_eq!(w.ctl.calls("api_query_auth").await, 0);
    assert_eq!(w.wechat_calls().await, 1, "an ended task is not searched");
    // The enterprise may try again: WeChat accepts a new task.
    let again = w.create(enterprise()).await;
    assert_ne!(again, id);
}

#[tokio::test]
async fn wechat_refusals_are_mapped_and_stored() {
    let w = world("fastreg_refused").await;
    let first = w.create(enterprise()).await;
    // One task at a time per enterprise: 89249 → 409.
    let (status, answer) = w.call("POST", "/admin/registrations", enterprise()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["errcode"], 89249);
    assert_eq!(
        answer["meaning"],
        "a task for this enterprise is running; retry 24 h after the last one"
    );
    // 61070: the name does not match the WeChat id (WeChat alone can tell) → 422.
    w.ctl.refuse_next_registration(61070).await;
    let mut other = enterprise();
    other["code"] = json!("91110000MA00EXAMP2");
    let (status, answer) = w.call("POST", "/admin/registrations", other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errcode"], 61070);
    let (_, list) = w.call("GET", "/admin/registrations", Value::Null).await;
    let tasks = list["registrations"].as_array().unwrap();
    let refused: Vec<i64> = tasks
        .iter()
        .filter(|t| t["state"] == "refused")
        .map(|t| t["create_refused"]["errcode"].as_i64().unwrap())
        .collect();
    assert_eq!(tasks.len(), 3);
    assert_eq!(refused.len(), 2);
    assert!(refused.contains(&89249) && refused.contains(&61070));
    assert!(tasks
        .iter()
        .any(|t| t["id"] == first.as_str() && t["state"] == "pending"));
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_before_wechat() {
    let w = world("fastreg_invalid").await;
    let with = |field: &str, value: Value| {
        let mut body = enterprise();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = enterprise();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    for (body, field) in [
        (without("name"), "name"),
        (with("name", json!("   ")), "name"),
        (with("code_type", json!(4)), "code_type"),
        (with("code_type", json!("1")), "code_type"),
        (with("code", json!("91440300MA5")), "code"),
        (with("code_type", json!(2)), "code"),
        (
            with("legal_persona_wechat", json!("1legal")),
            "legal_persona_wechat",
        ),
        (
            with("legal_persona_wechat", json!("abc")),
            "legal_persona_wechat",
        ),
        (without("legal_persona_name"), "legal_persona_name"),
        (with("component_phone", json!("call me")), "component_phone"),
        (with("component_phone", json!(12345678)), "component_phone"),
        (with("extra", json!(1)), "extra"),
    ] {
        let (status, answer) = w.call("POST", "/admin/registrations", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (status, _) = w
        .call("GET", "/admin/registrations/not-an-id", Value::Null)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = w
        .call(
            "GET",
            "/admin/registrations/reg_0000000000000000",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(w.wechat_calls().await, 0, "WeChat was not called");
    let (_, list) = w.call("GET", "/admin/registrations", Value::Null).await;
    assert_eq!(list["registrations"], json!([]), "nothing stored");
}

#[tokio::test]
async fn a_registered_code_that_cannot_be_exchanged_ends_its_task_as_failed() {
    let w = world("fastreg_unexchangeable").await;
    let id = w.create(enterprise()).await;
    // WeChat refuses the push's auth_code (40029): no mini program can come of it.
    let fault = json!({ "errcode": { "errcode": 40029, "errmsg": "invalid code" } });
    assert_eq!(w.ctl.fault("api_query_auth", 1, fault).await, 204);
    w.confirm_and_deliver(1).await;
    let task = w.get(&id).await["registration"].clone();
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(task["push"]["status"], 0);
    assert!(
        task["push"]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("could not be exchanged")),
        "{task}"
    );
    assert_eq!(task["appid"], Value::Null);
    // Ended: not searched again.
    let searches = w.wechat_calls().await;
    w.get(&id).await;
    assert_eq!(w.wechat_calls().await, searches);
}
