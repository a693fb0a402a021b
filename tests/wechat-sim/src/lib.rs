//! A stateful WeChat Open Platform simulator (a library for tests, a binary for `make dev`).
//!
//! It follows the team's reference (../shared/wechat-open-platform.md): the same paths, fields,
//! lifetimes and errcodes. It issues and expires tokens on a simulated clock, pushes encrypted
//! tickets and events to the platform's URLs (retrying like WeChat), serves the authorization
//! pages and runs scripted code reviews. `/sim/…` controls it.

pub mod audit;
pub mod business;
pub mod code;
pub mod component;
pub mod config;
pub mod control;
pub mod golive;
pub mod material;
pub mod messages;
pub mod onboard;
pub mod pages;
pub mod platform;
pub mod privacy;
pub mod push;
pub mod register;
pub mod review_rule;
pub mod state;
pub mod templates;
pub mod wx;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use shared::crypto::MessageCrypto;

pub use config::SimConfig;
use state::{FaultKind, SimState};

struct Inner {
    state: Mutex<SimState>,
    crypto: MessageCrypto,
    http: reqwest::Client,
}

/// A handle on the simulator; cheap to clone.
#[derive(Clone)]
pub struct Sim(Arc<Inner>);

impl Sim {
    pub fn new(config: SimConfig) -> Result<Self, config::ConfigError> {
        config.validate()?;
        let c = &config.component;
        let crypto = MessageCrypto::new(
            SecretString::from(c.token.as_str()),
            &c.appid,
            &c.encoding_aes_key,
            None,
        )
        .map_err(|e| config::ConfigError::Invalid(e.to_string()))?;
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| config::ConfigError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self(Arc::new(Inner {
            state: Mutex::new(SimState::new(config)),
            crypto,
            http,
        })))
    }

    /// The state; never held across an await.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn crypto(&self) -> &MessageCrypto {
        &self.0.crypto
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    pub fn router(&self) -> Router {
        use templates as t;
        use {audit as a, code as c, component as k, control as s, golive as g, pages as p};
        let wechat = Router::new()
            .route(
                "/cgi-bin/component/api_start_push_ticket",
                post(k::start_push_ticket),
            )
            .route(
                "/cgi-bin/component/api_component_token",
                post(k::component_token_api),
            )
            .route(
                "/cgi-bin/component/api_create_preauthcode",
                post(k::create_preauthcode),
            )
            .route("/cgi-bin/component/api_query_auth", post(k::query_auth))
            .route(
                "/cgi-bin/component/api_authorizer_token",
                post(k::authorizer_token),
            )
            .route(
                "/cgi-bin/component/api_get_authorizer_info",
                post(k::get_authorizer_info),
            )
            .route(
                "/cgi-bin/component/api_get_authorizer_list",
                post(k::get_authorizer_list),
            )
            .route("/wxa/modify_domain", post(c::modify_domain))
            .route("/wxa/setwebviewdomain", post(c::set_webview_domain))
            .route("/wxa/bind_tester", post(c::bind_tester))
            .route("/wxa/unbind_tester", post(c::unbind_tester))
            .route("/wxa/memberauth", post(c::memberauth))
            .route("/wxa/commit", post(c::commit))
            .route("/wxa/get_qrcode", get(c::get_qrcode))
            .route(
                "/cgi-bin/material/get_material",
                post(material::get_material),
            )
            .route("/wxa/get_category", get(c::get_category))
            .route("/wxa/get_page", get(c::get_page))
            .route("/wxa/submit_audit", post(a::submit_audit))
            .route("/wxa/get_auditstatus", post(a::get_auditstatus))
            .route(
                "/wxa/get_latest_auditstatus",
                get(a::get_latest_auditstatus),
            )
            .route("/wxa/undocodeaudit", get(a::undocodeaudit))
            .route("/wxa/release", post(a::release))
            .route("/wxa/revertcoderelease", get(a::revertcoderelease))
            .route("/wxa/grayrelease", post(a::grayrelease))
            .route("/wxa/revertgrayrelease", get(a::revertgrayrelease))
            .route("/wxa/getgrayreleaseplan", get(a::getgrayreleaseplan))
            .route("/wxa/change_visitstatus", post(a::change_visitstatus))
            .route("/wxa/getvisitstatus", post(a::getvisitstatus))
            .route("/wxa/speedupaudit", post(a::speedupaudit))
            .route("/wxa/queryquota", get(a::queryquota))
            .route("/wxa/gettemplatedraftlist", get(t::gettemplatedraftlist))
            .route("/wxa/addtotemplate", post(t::addtotemplate))
            .route("/wxa/gettemplatelist", get(t::gettemplatelist))
            .route("/wxa/deletetemplate", post(t::deletetemplate))
            .route(
                "/cgi-bin/component/fastregisterweapp",
                post(register::fastregisterweapp),
            )
            .route(
                "/cgi-bin/component/setprivacysetting",
                post(privacy::set_privacy_setting),
            )
            .route(
                "/cgi-bin/component/getprivacysetting",
                post(privacy::get_privacy_setting),
            )
            .route(
                "/cgi-bin/component/uploadprivacyextfile",
                post(privacy::upload_privacy_ext_file),
            )
            .route(
                "/wxa/security/get_code_privacy_info",
                get(privacy::get_code_privacy_info),
            )
            .route(
                "/wxa/security/get_privacy_interface",
                get(privacy::get_privacy_interface),
            )
            .route(
                "/wxa/security/apply_privacy_interface",
                post(privacy::apply_privacy_interface),
            )
            .route(
                "/cgi-bin/component/api_get_authorizer_option",
                post(platform::get_authorizer_option),
            )
            .route(
                "/cgi-bin/component/api_set_authorizer_option",
                post(platform::set_authorizer_option),
            )
            .route("/cgi-bin/openapi/quota/get", post(platform::quota_get))
            .route(
                "/cgi-bin/clear_quota",
                post(platform::clear_quota_of_account),
            )
            .route(
                "/cgi-bin/component/clear_quota",
                post(platform::clear_component_quota),
            )
            .route(
                "/cgi-bin/component/clear_quota/v2",
                post(platform::clear_quota_by_secret),
            )
            .route(
                "/sns/component/jscode2session",
                get(platform::jscode2session),
            )
            .route(
                "/cgi-bin/component/modify_wxa_server_domain",
                post(platform::modify_wxa_server_domain),
            )
            .route(
                "/cgi-bin/component/modify_wxa_jump_domain",
                post(platform::modify_wxa_jump_domain),
            )
            .route("/cgi-bin/componentloginpage", get(p::login_page))
            .route("/cgi-bin/componentloginpage/confirm", post(p::confirm))
            .route("/safe/bindcomponent", get(p::login_page))
            .route("/wxaopen/safe/bindcomponent", get(p::login_page))
            .route("/cgi-bin/message/custom/send", post(g::custom_send))
            // The business calls of the service gateway (business.rs).
            .route(
                "/cgi-bin/message/subscribe/send",
                post(business::subscribe_send),
            )
            .route(
                "/wxa/business/getuserphonenumber",
                post(business::get_user_phone_number),
            )
            .route("/wxa/generatescheme", post(business::generate_scheme))
            .route("/wxa/generate_urllink", post(business::generate_urllink))
            .route(
                "/wxa/getwxacodeunlimit",
                post(business::get_wxacode_unlimit),
            )
            .merge(onboard_routes())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                count_and_inject,
            ));
        let control = Router::new()
            .route("/sim/clock", get(s::clock))
            .route("/sim/clock/advance", post(s::advance_clock))
            .route("/sim/tokens/expire", post(s::expire_tokens))
            .route("/sim/faults", post(s::add_fault).delete(s::clear_faults))
            .route("/sim/calls", get(s::calls))
            .route(
                "/sim/reviews",
                post(s::script_review).delete(s::clear_review_rule),
            )
            .route("/sim/quota", post(s::set_quota))
            .route("/sim/push/ticket", post(s::push_ticket))
            .route("/sim/refresh-tokens", post(s::refresh_tokens))
            .route("/sim/authorizations", get(s::authorizations))
            .route("/sim/authorizations/{appid}/revoke", post(s::revoke))
            .route("/sim/authorizations/bulk", post(s::bulk_authorize))
            .route("/sim/pushes", get(s::pushes))
            .route("/sim/registrations", get(register::list))
            .route("/sim/registrations/outcome", post(register::script))
            .route(
                "/sim/registrations/{taskid}/confirm",
                post(register::confirm),
            )
            .route(
                "/sim/registrations/{taskid}/push-again",
                post(register::push_again),
            )
            .route("/sim/mini-programs/{appid}", get(s::mini_program_state))
            .route("/sim/privacy/scan-secs", post(s::privacy_scan_secs))
            .route("/sim/privacy/interfaces", post(s::script_application))
            .route("/sim/js-codes", post(s::mint_js_code))
            .route("/sim/go-live-check", post(g::go_live_check))
            .route("/sim/custom-messages", get(g::custom_messages))
            .route("/sim/subscribe-messages", get(business::subscribe_messages))
            .route("/sim/onboarding", get(onboard::show))
            .route("/sim/onboarding/outcomes", post(onboard::script_outcome))
            .route("/sim/onboarding/durations", post(onboard::set_durations))
            .route("/sim/onboarding/words", post(onboard::set_words))
            .route("/sim/messages", post(messages::send_message));
        wechat.merge(control).with_state(self.clone())
    }

    /// The periodic work: a ticket every `ticket_interval_secs` (the first at once) and reviews
    /// ending when due.
    pub fn start_background(&self) {
        let interval = self.state().config.push.ticket_interval_secs;
        if interval > 0 {
            let sim = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(interval));
                loop {
                    ticks.tick().await;
                    sim.push_ticket();
                }
            });
        }
        let sim = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(200));
            loop {
                ticks.tick().await;
                sim.resolve_due_reviews();
                sim.resolve_due_registrations();
                sim.resolve_due_onboarding();
            }
        });
    }

    /// Binds `addr`, starts the background work and serves until the task is dropped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        self.start_background();
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(RunningSim {
            sim: self,
            addr,
            task,
        })
    }
}

/// Basic information, categories, media and the ICP filing family ([`onboard`]).
fn onboard_routes() -> Router<Sim> {
    use onboard as o;
    Router::new()
        .route("/cgi-bin/media/upload", post(o::media_upload))
        .route(
            "/cgi-bin/account/getaccountbasicinfo",
            get(o::get_account_basic_info).post(o::get_account_basic_info),
        )
        .route(
            "/cgi-bin/wxverify/checkwxverifynickname",
            post(o::check_nickname),
        )
        .route("/wxa/setnickname", post(o::set_nickname))
        .route("/wxa/api_wxa_querynickname", post(o::query_nickname))
        .route(
            "/cgi-bin/account/modifyheadimage",
            post(o::modify_head_image),
        )
        .route(
            "/cgi-bin/account/modifysignature",
            post(o::modify_signature),
        )
        .route("/cgi-bin/wxopen/addcategory", post(o::add_category))
        .route("/cgi-bin/wxopen/getcategory", get(o::get_categories))
        .route(
            "/cgi-bin/wxopen/getallcategories",
            get(o::get_all_categories),
        )
        .route(
            "/wxa/icp/get_icp_entrance_info",
            get(o::get_icp_entrance_info),
        )
        .route(
            "/wxa/icp/query_icp_service_content_types",
            get(o::service_content_types),
        )
        .route("/wxa/icp/upload_icp_media", post(o::upload_icp_media))
        .route(
            "/wxa/icp/create_icp_verifytask",
            post(o::create_verify_task),
        )
        .route("/wxa/icp/query_icp_verifytask", post(o::query_verify_task))
        .route("/wxa/icp/apply_icp_filing", post(o::apply_icp_filing))
}

/// A simulator serving on a local port.
pub struct RunningSim {
    pub sim: Sim,
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// A simulator of `config` serving on a free loopback port (tests).
    pub async fn on_loopback(config: SimConfig) -> Self {
        Sim::new(config)
            .expect("a valid simulator configuration")
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a free loopback port")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts calls per endpoint (the last path segment) and applies an armed fault, if any.
async fn count_and_inject(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let endpoint = request
        .uri()
        .path()
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_owned();
    let (fault, latency) = {
        let mut state = sim.state();
        *state.calls.entry(endpoint.clone()).or_default() += 1;
        platform::record_call(&mut state, request.uri());
        (state.take_fault(&endpoint), state.config.latency_ms)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Errcode { errcode, errmsg }) => wx::WxError::new(
            errcode,
            errmsg.unwrap_or_else(|| "injected by the simulator".into()),
        )
        .into_response(),
        Some(FaultKind::HttpStatus { status }) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(FaultKind::DelayMs { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(FaultKind::Drop) => {
            // Headers go out, then the body fails: the connection is cut mid-response.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other(
                    "connection dropped by the simulator",
                ))
            });
            Response::new(Body::from_stream(broken))
        }
    }
}
