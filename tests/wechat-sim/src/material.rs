//! 获取永久素材 (`POST /cgi-bin/material/get_material`): the review screenshots a rejection names
//! (`ScreenShot`, media ids joined by `|`) are fetched this way with the authorizer's token. The
//! simulator answers each screenshot of the mini program's reviews with an image (a code of its
//! id, so two are told apart) and 40007 for any other media id.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::code::{qr_png, Params};
use crate::wx::{json_body, str_field, WxError};
use crate::Sim;

pub async fn get_material(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    let result = (|| {
        let mut state = sim.state();
        let appid =
            state.require_code_management(params.get("access_token").map(String::as_str))?;
        let body = json_body(&body)?;
        let media_id = str_field(&body, "media_id")?.to_owned();
        let known = state
            .code_state(&appid)
            .audits
            .iter()
            .any(|a| a.screenshot.split('|').any(|id| id == media_id));
        if known {
            Ok(media_id)
        } else {
            Err(WxError::new(40007, "invalid media_id"))
        }
    })();
    match result {
        Ok(media_id) => (
            [(header::CONTENT_TYPE, "image/png")],
            qr_png(&format!("screenshot:{media_id}")),
        )
            .into_response(),
        Err(e) => (
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "errcode": e.errcode, "errmsg": e.errmsg }).to_string(),
        )
            .into_response(),
    }
}
