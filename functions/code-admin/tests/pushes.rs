//! `GET /admin/pushes` and `GET /admin/pushes/{id}` on moto: pushes kept as ticket-receive keeps
//! them (the events store's own writer), listed newest first across days, paged with the
//! cursor, filtered by appid, kind and time; the detail with fields and XML; bad queries
//! refused naming the field.

use code_admin::PlatformCodeAdmin;
use devstack::sim::{Component, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use serde_json::Value;
use shared::events::StoredEvent;
use shared::store::unix_now;

mod common;

const MP1: &str = "wxpushesminiprog01";
const MP2: &str = "wxpushesminiprog02";

struct Pushes {
    world: World,
    admin: PlatformCodeAdmin,
}

devstack::deref_world!(Pushes);

async fn world(test: &str) -> Pushes {
    let world = Setup::new(&Component::new("wxpushescomponent1", "p-secret", "ptoken"))
        .start(test)
        .await;
    Pushes {
        admin: PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens()),
        world,
    }
}

impl Pushes {
    async fn list(&self, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let answer =
            common::call_with(&self.admin, "GET", "/admin/pushes", query, Value::Null).await;
        (answer.status, answer.body)
    }

    /// Every page of a listing, following the cursor: the ids in order.
    async fn all_pages(&self, query: &[(&str, &str)]) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let (status, body) = self.list(&q).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            ids.extend(
                body["pushes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned()),
            );
            match body["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// A customer text to `appid` dated `create_time`, stored as ticket-receive stores it.
    async fn text(&self, appid: &str, create_time: i64, content: &str) -> String {
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{create_time}{}</MsgId></xml>",
            content.len()
        );
        self.keep(StoredEvent::message_push(appid, &xml, unix_now()).unwrap())
            .await
    }

    async fn keep(&self, event: StoredEvent) -> String {
        self.platform.event_store().record(&event).await.unwrap();
        event.id
    }
}

#[tokio::test]
async fn pushes_are_listed_newest_first_across_days_paged_and_filtered() {
    let w = world("pushes-list").await;
    let now = unix_now();
    let day = 86_400;
    // Five pushes over three days, two mini programs, two kinds.
    let a = w.text(MP1, now - 2 * day, "a").await;
    let b = w.text(MP2, now - day - 60, "b").await;
    let c = w.text(MP1, now - day, "c").await;
    let popup = format!(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>o2</FromUserName><CreateTime>{}</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>t1</TemplateId></List></SubscribeMsgPopupEvent></xml>",
        now - 30
    );
    let d = w
        .keep(StoredEvent::message_push(MP1, &popup, now).unwrap())
        .await;
    let e = w.text(MP2, now - 10, "e").await;

    // Newest first, every one once, whatever the page size.
    for limit in ["1", "2", "50"] {
        let ids = w.all_pages(&[("limit", limit)]).await;
        assert_eq!(
            ids,
            [e.clone(), d.clone(), c.clone(), b.clone(), a.clone()],
            "limit {limit}"
        );
    }
    assert_eq!(
        w.all_pages(&[("appid", MP1), ("limit", "1")]).await,
        [d.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        w.all_pages(&[("kind", "message.text")]).await,
        [e.clone(), c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        w.all_pages(&[("appid", MP1), ("kind", "message.text")])
            .await,
        [c.clone(), a.clone()]
    );
    let since = (now - day - 60).to_string();
    let until = (now - 30).to_string();
    assert_eq!(
        w.all_pages(&[("since", &since), ("until", &until)]).await,
        [d.clone(), c.clone(), b.clone()]
    );
    let (status, body) = w.list(&[("kind", "event.subscribe_msg_popup_event")]).await;
    assert_eq!(status, StatusCode::OK);
    let line = &body["pushes"][0];
    assert_eq!(line["id"], d.as_str());
    assert_eq!(line["appid"], MP1);
    assert_eq!(line["create_time"], now - 30);

    // The detail: fields, XML, status, not yet published, a place for deliveries.
    let detail = common::call(&w.admin, "GET", &format!("/admin/pushes/{d}"), Value::Null).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let push = &detail.body["push"];
    assert_eq!(push["kind"], "event.subscribe_msg_popup_event");
    assert_eq!(
        push["fields"]["SubscribeMsgPopupEvent"]["List"]["TemplateId"],
        "t1"
    );
    assert_eq!(push["xml"], popup.as_str());
    assert_eq!(push["status"], "received");
    assert_eq!(push["published_at"], Value::Null);
    assert_eq!(push["deliveries"], serde_json::json!([]));
}

#[tokio::test]
async fn bad_listing_queries_and_ids_are_refused_naming_the_field() {
    let w = world("pushes-refused").await;
    for (query, field) in [
        (vec![("kind", "nothing")], "kind"),
        (vec![("appid", "wx123")], "appid"),
        (vec![("since", "yesterday")], "since"),
        (vec![("since", "20"), ("until", "10")], "since"),
        (vec![("limit", "0")], "limit"),
        (vec![("cursor", "not-a-cursor!")], "cursor"),
    ] {
        let (status, body) = w.list(&query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
        assert_eq!(body["field"], field, "{query:?}: {body}");
    }
    let bad = common::call(&w.admin, "GET", "/admin/pushes/not-an-id", Value::Null).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "id");
    let missing = format!("/admin/pushes/evt_{}", "0".repeat(32));
    let missing = common::call(&w.admin, "GET", &missing, Value::Null).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}
