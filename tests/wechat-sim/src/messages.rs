//! `POST /sim/messages`: any push of the message URL (消息与事件接收URL) on demand, as WeChat
//! sends it ("消息推送", "第三方平台代收消息与事件"): a customer's text, a subscribe-message
//! popup event, a nickname review result … encrypted to the message URL of one mini program and
//! answered with what the platform answered.
//!
//! ```json
//! {"appid": "wx…", "msg_type": "text", "fields": {"Content": "hello"}}
//! {"appid": "wx…", "event": "subscribe_msg_popup_event",
//!  "fields": {"SubscribeMsgPopupEvent": {"List": [{"TemplateId": "t1", "SubscribeStatusString": "accept", "PopupScene": "0"}]}}}
//! {"appid": "wx…", "event": "wxa_nickname_audit", "fields": {"ret": "3", "nickname": "shop", "reason": ""}}
//! ```
//!
//! The simulator fills `ToUserName` (the mini program's original id), `FromUserName` (`from`,
//! else a fresh OpenID), `CreateTime` (its clock), `MsgType` (`event` when `event` is given) and,
//! for a message, `MsgId` (`msg_id`, else a fresh one). `fields` become elements (by name: JSON
//! objects have no order, nor does a push reader rely on one): a
//! string or number a leaf, an object nested elements, an array the element repeated (WeChat's
//! `List`). `deliveries` (default 1, at most 3: WeChat's tries) posts the same request again,
//! as WeChat's retry does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::push::Recipient;
use crate::state::random_id;
use crate::Sim;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    appid: String,
    #[serde(default)]
    msg_type: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    fields: Map<String, Value>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    msg_id: Option<String>,
    #[serde(default)]
    deliveries: Option<u32>,
}

fn bad_request(message: String) -> Response {
    let body = json!({ "error": "bad_request", "message": message });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `<name>` for each field, in order (module doc).
fn elements(fields: &Map<String, Value>) -> Result<String, String> {
    let mut xml = String::new();
    for (name, value) in fields {
        element(&mut xml, name, value)?;
    }
    Ok(xml)
}

fn element(xml: &mut String, name: &str, value: &Value) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("fields: {name:?} is not an element name"));
    }
    match value {
        Value::String(text) if text.contains("]]>") => {
            return Err(format!("fields.{name}: a value may not contain ]]>"))
        }
        Value::String(text) => xml.push_str(&format!("<{name}><![CDATA[{text}]]></{name}>")),
        Value::Number(number) => xml.push_str(&format!("<{name}>{number}</{name}>")),
        Value::Object(children) => {
            xml.push_str(&format!("<{name}>{}</{name}>", elements(children)?))
        }
        Value::Array(items) => {
            for item in items {
                element(xml, name, item)?;
            }
        }
        Value::Bool(_) | Value::Null => {
            return Err(format!("fields.{name}: a string, number, object or array"))
        }
    }
    Ok(())
}

pub async fn send_message(State(sim): State<Sim>, Json(request): Json<MessageRequest>) -> Response {
    let msg_type = match (&request.msg_type, &request.event) {
        (Some(_), Some(_)) => return bad_request("name msg_type or event, not both".into()),
        (None, None) => return bad_request("msg_type or event is required".into()),
        (Some(t), None) if t == "event" => {
            return bad_request("msg_type event: name the event instead".into())
        }
        (Some(t), None) => t.clone(),
        (None, Some(_)) => "event".to_owned(),
    };
    let deliveries = request.deliveries.unwrap_or(1);
    if !(1..=3).contains(&deliveries) {
        return bad_request("deliveries must be 1 to 3 (WeChat tries 3 times in all)".into());
    }
    let inner = match elements(&request.fields) {
        Ok(inner) => inner,
        Err(message) => return bad_request(message),
    };
    let (original_id, now) = {
        let state = sim.state();
        let Some(mp) = state.mini_program(&request.appid) else {
            let body = json!({ "error": "not_found", "message": format!("no mini program {}", request.appid) });
            return (StatusCode::NOT_FOUND, Json(body)).into_response();
        };
        (mp.original_id.clone(), state.now())
    };
    let from = request
        .from
        .unwrap_or_else(|| random_id("o").chars().take(28).collect());
    let mut xml = format!(
        "<xml><ToUserName><![CDATA[{original_id}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
    );
    match &request.event {
        Some(event) => xml.push_str(&format!("<Event><![CDATA[{event}]]></Event>")),
        None => {
            let msg_id = request
                .msg_id
                .unwrap_or_else(|| rand::random_range(10u64.pow(18)..u64::MAX).to_string());
            xml.push_str(&inner);
            xml.push_str(&format!("<MsgId>{msg_id}</MsgId></xml>"));
            return deliver(
                &sim,
                &request.appid,
                original_id,
                &msg_type,
                xml,
                &from,
                deliveries,
            )
            .await;
        }
    }
    xml.push_str(&inner);
    xml.push_str("</xml>");
    let kind = request.event.clone().unwrap_or_default();
    deliver(
        &sim,
        &request.appid,
        original_id,
        &kind,
        xml,
        &from,
        deliveries,
    )
    .await
}

/// Posts the push `deliveries` times (the same request: WeChat's retry), answering each answer.
async fn deliver(
    sim: &Sim,
    appid: &str,
    original_id: String,
    kind: &str,
    plaintext: String,
    openid: &str,
    deliveries: u32,
) -> Response {
    let recipient = Recipient::MiniProgram {
        appid: appid.to_owned(),
        original_id,
    };
    let Some(prepared) = sim.prepare(&recipient, &plaintext, openid) else {
        let body = json!({ "error": "no_push_urls", "message": "no message URL configured (SIM_MESSAGE_URL)" });
        return (StatusCode::CONFLICT, Json(body)).into_response();
    };
    let id = sim.log_delivery(&prepared, kind);
    let mut answers = Vec::new();
    for attempt in 0..deliveries {
        let answer = sim.post_once(&prepared, id, attempt).await;
        answers.push(json!({
            "status": answer.status,
            "body": answer.body,
            "error": answer.error,
            "acknowledged": answer.acknowledged(),
        }));
    }
    Json(json!({ "delivery": id, "plaintext": plaintext, "answers": answers })).into_response()
}
