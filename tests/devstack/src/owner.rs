//! What an owner does on the simulator's authorization page, and a ticket as if pushed, for tests
//! that need an authorized mini program.

use shared::authorization::EventTime;
use shared::platform::Platform;
use shared::store::{unix_now, TicketStore, VerifyTicket};

/// Stores `ticket` (one the simulator pushed) as the newest component_verify_ticket.
pub async fn store_ticket(platform: &Platform, ticket: String) {
    let ticket = VerifyTicket {
        ticket: ticket.into(),
        create_time: unix_now(),
        received_at: unix_now(),
    };
    platform
        .ticket_store()
        .save_verify_ticket(&platform.config.appid, ticket)
        .await
        .expect("ticket stored");
}

/// The callback URL the owner's confirmation is redirected to in these tests.
pub const REDIRECT_URI: &str = "https://platform.example.com/auth/callback";

/// A browser: follows no redirect, so that WeChat's `Location` can be read.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The owner confirms `appid` with `sets` on the simulator's page (the form of `pre_auth_code`,
/// `redirect_uri`, `appid` and the permission sets); answers WeChat's response.
pub async fn confirm(
    sim_base: &str,
    form: &[(&str, &str)],
    appid: &str,
    sets: &[i64],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.push(("appid".to_owned(), appid.to_owned()));
    form.extend(
        sets.iter()
            .map(|s| ("permission".to_owned(), s.to_string())),
    );
    browser()
        .post(format!("{sim_base}/cgi-bin/componentloginpage/confirm"))
        .form(&form)
        .send()
        .await
        .expect("the simulator answers")
}

/// WeChat's redirect (`Location`) of a confirmation.
pub fn location_of(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("a redirect")
        .to_owned()
}

/// The owner confirms `appid` with `sets` on the simulator's page; returns WeChat's redirect.
pub async fn confirm_on_page(
    sim_base: &str,
    pre_auth_code: &str,
    appid: &str,
    sets: &[i64],
) -> String {
    let form = [
        ("pre_auth_code", pre_auth_code),
        ("redirect_uri", REDIRECT_URI),
    ];
    location_of(&confirm(sim_base, &form, appid, sets).await)
}

/// The `auth_code` of a callback URL.
pub fn auth_code_of(location: &str) -> String {
    location
        .split("auth_code=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("auth_code")
        .to_owned()
}

/// A pre_auth_code from the platform, the owner's confirmation, and the platform's exchange.
pub async fn authorize(platform: &Platform, sim_base: &str, appid: &str, sets: &[i64]) {
    let pre = platform
        .component_service()
        .create_preauthcode()
        .await
        .expect("pre_auth_code");
    let location = confirm_on_page(sim_base, &pre.code, appid, sets).await;
    platform
        .authorization_service()
        .complete(&auth_code_of(&location), EventTime::Callback)
        .await
        .expect("authorization completed");
}
