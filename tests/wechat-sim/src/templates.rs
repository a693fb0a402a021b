//! The platform's template library ("模板库管理" (code_template)); token: the component access token.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Value};

use crate::config::Template;
use crate::state::{LibraryTemplate, SimState};
use crate::wx::{int_field, json_body, ok, respond, WxError, WxResult};
use crate::Sim;

type Params = Query<HashMap<String, String>>;

fn with_component(
    sim: &Sim,
    params: &HashMap<String, String>,
    f: impl FnOnce(&mut SimState) -> WxResult,
) -> Response {
    let mut state = sim.state();
    respond(
        state
            .require_component_token(params.get("access_token").map(String::as_str))
            .and_then(|()| f(&mut state)),
    )
}

pub async fn gettemplatedraftlist(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_component(&sim, &params, |state| {
        let now = state.now();
        let appid = state
            .config
            .mini_programs
            .first()
            .map(|m| m.appid.clone())
            .unwrap_or_default();
        let drafts: Vec<Value> = state
            .config
            .drafts
            .iter()
            .map(|d| {
                json!({
                    "create_time": now,
                    "user_version": d.user_version,
                    "user_desc": d.user_desc,
                    "draft_id": d.draft_id,
                    "source_miniprogram_appid": appid,
                    "source_miniprogram": "developer tools",
                    "developer": "developer",
                })
            })
            .collect();
        ok(json!({ "draft_list": drafts }))
    })
}

pub async fn addtotemplate(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_component(&sim, &params, |state| {
        let body = json_body(&body)?;
        let draft_id = int_field(&body, "draft_id")?;
        let template_type = body
            .get("template_type")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let draft = state
            .config
            .drafts
            .iter()
            .find(|d| d.draft_id == draft_id)
            .cloned()
            .ok_or_else(|| WxError::new(85064, "draft not found"))?;
        if state.library.len() >= state.config.limits.template_library_size {
            return Err(WxError::new(85065, "template library is full"));
        }
        let template_id = state.next_template_id;
        state.next_template_id += 1;
        state.config.privacy.inherit(draft_id, template_id);
        let create_time = state.now();
        state.library.push(LibraryTemplate {
            template: Template {
                template_id,
                user_version: draft.user_version,
                user_desc: draft.user_desc,
                draft_id: Some(draft_id),
                pages: draft.pages,
                template_type,
            },
            create_time,
        });
        ok(json!({}))
    })
}

pub async fn gettemplatelist(State(sim): State<Sim>, Query(params): Params) -> Response {
    let wanted_type = params
        .get("template_type")
        .and_then(|t| t.parse::<i64>().ok());
    with_component(&sim, &params, |state| {
        let list: Vec<Value> = state
            .library
            .iter()
            .filter(|t| wanted_type.is_none_or(|w| w == t.template.template_type))
            .map(|t| {
                json!({
                    "create_time": t.create_time,
                    "user_version": t.template.user_version,
                    "user_desc": t.template.user_desc,
                    "template_id": t.template.template_id,
                    "draft_id": t.template.draft_id,
                    "template_type": t.template.template_type,
                    "source_miniprogram_appid": "",
                    "source_miniprogram": "developer tools",
                    "developer": "developer",
                    "category_list": [],
                })
            })
            .collect();
        ok(json!({ "template_list": list }))
    })
}

pub async fn deletetemplate(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component(&sim, &params, |state| {
        let body = json_body(&body)?;
        let template_id = int_field(&body, "template_id")?;
        let before = state.library.len();
        state
            .library
            .retain(|t| t.template.template_id != template_id);
        if state.library.len() == before {
            return Err(WxError::new(85064, "template not found"));
        }
        ok(json!({}))
    })
}
