//! The operator console: a small static app (no build step, no framework, no third-party origin)
//! compiled into this function and served under `/console/`. Everything it shows comes from the
//! admin API on the same origin, with the operator's admin token as a bearer header.
//!
//! Why a static app rather than server-rendered pages: the admin API already is the one place that
//! checks tokens, validates input and records actions; a page that only calls it adds no second
//! path to the data, and the same HTTP API serves curl users and the console alike.

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// The policy of every answer: scripts and styles only from these files, no inline code, no
/// other origin, never framed. Images may be `blob:` (the trial QR code is fetched with the
/// token, then shown from memory) and `data:` (the mini programs' own icons are not loaded from
/// WeChat's CDN, so nothing leaves for another origin).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of the app.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// An asset of `assets/<file>` served at `/console/<file>` (the page at `/console/`).
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../assets/", $file)),
        }
    };
}

pub const ASSETS: &[Asset] = &[
    asset!("/console/", "index.html", "text/html; charset=utf-8"),
    asset!(
        "/console/app.js",
        "app.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/console/ui.js", "ui.js", "text/javascript; charset=utf-8"),
    asset!(
        "/console/gateway.js",
        "gateway.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/console/onboarding.js",
        "onboarding.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/console/i18n.js",
        "i18n.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/console/app.css", "app.css", "text/css; charset=utf-8"),
];

/// The asset for `path`: `/console` and `/console/` are the page; every other path under it is
/// the page too when it has no extension (the app routes on the fragment, but a pasted deep link
/// should still open it).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/console" {
        "/console/"
    } else {
        path
    };
    ASSETS.iter().find(|a| a.path == path).or_else(|| {
        let rest = path.strip_prefix("/console/")?;
        (!rest.contains('.')).then_some(&ASSETS[0])
    })
}

fn with_headers(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let static_header = |v: &'static str| HeaderValue::from_static(v);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(static_header("text/plain")),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        static_header(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, static_header("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, static_header("DENY"));
    headers.insert(header::REFERRER_POLICY, static_header("no-referrer"));
    // Small files, changed with each deployment: revalidate each time rather than serve stale code.
    headers.insert(header::CACHE_CONTROL, static_header("no-cache"));
    response
}

/// The handler: GET (and HEAD) of an asset; 404 for anything else under `/console/`.
pub fn handle(request: &Request) -> Response<Body> {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = with_headers(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Body::from("method not allowed"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match asset(request.uri().path()) {
        Some(asset) if method == Method::HEAD => {
            with_headers(StatusCode::OK, asset.content_type, Body::Empty)
        }
        Some(asset) => with_headers(StatusCode::OK, asset.content_type, Body::from(asset.body)),
        None => with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Body::from("not found"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devstack::apigw::request;

    #[test]
    fn every_asset_is_served_with_the_policy() {
        for asset in ASSETS {
            let response = handle(&request("GET", asset.path, &[], &[], ""));
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], asset.content_type);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        }
    }

    #[test]
    fn deep_links_open_the_page_and_unknown_files_are_not_found() {
        assert_eq!(asset("/console").unwrap().path, "/console/");
        assert_eq!(asset("/console/mini-programs").unwrap().path, "/console/");
        assert!(asset("/console/secret.txt").is_none());
        assert!(asset("/admin/health").is_none());
        let post = handle(&request("POST", "/console/", &[], &[], ""));
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// The policy forbids inline code: the page must not carry any, or it would not run.
    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = ASSETS[0].body;
        assert!(!html.contains("<script>") && !html.contains("style="));
        for handler in ["onclick=", "onload=", "onsubmit=", "javascript:"] {
            assert!(!html.contains(handler), "inline {handler}");
        }
        for asset in ASSETS {
            assert!(
                !asset.body.contains("http://") && !asset.body.contains("https://"),
                "{} names another origin",
                asset.path
            );
        }
    }
}
