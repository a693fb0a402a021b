//! The ticket watchdog against a ticket dated in the future (stored before ticket-receive bounded
//! CreateTime, e.g. milliseconds sent as seconds): the run restarts ticket pushes, and the ticket
//! WeChat then pushes, received by ticket-receive, replaces it.

use devstack::apigw::body_text;
use devstack::sim::{Component, Setup};
use secrecy::{ExposeSecret, SecretString};
use shared::store::{unix_now, TicketStore, VerifyTicket};
use ticket_receive::PlatformReceiver;
use token_refresh::{RefreshSettings, Refresher};

const APPID: &str = "wxwatchdogcomponen";

#[tokio::test]
async fn a_ticket_dated_in_the_future_is_replaced_by_the_next_pushed_one() {
    let w = Setup::new(&Component::new(APPID, "watchdog-secret", "watchdogtoken"))
        .pushes_to_inbox()
        .start("watchdog-future")
        .await;
    let platform = &w.platform;
    let now = unix_now();
    platform
        .ticket_store()
        .save_verify_ticket(
            APPID,
            VerifyTicket {
                ticket: SecretString::from("ticket@@@milliseconds"),
                create_time: now * 1000,
                received_at: now,
            },
        )
        .await
        .unwrap();
    let settings = RefreshSettings::from_lookup(|_| None).unwrap();
    let refresher = Refresher::from_platform(platform, settings);

    let summary = refresher.refresh_all().await;
    assert!(
        matches!(summary.ticket, token_refresh::TicketState::Restarted { .. }),
        "{summary:?}"
    );

    let pushed = w.inbox().wait_for("component_verify_ticket").await;
    let receiver = PlatformReceiver::from_platform(platform).unwrap();
    let response = ticket_receive::handle(&receiver, pushed.request())
        .await
        .unwrap();
    assert_eq!(body_text(&response), "success");
    let record = platform
        .ticket_store()
        .verify_ticket(APPID)
        .await
        .unwrap()
        .unwrap();
    let ticket = record.current.ticket.expose_secret();
    assert!(
        ticket != "ticket@@@milliseconds" && pushed.plaintext.contains(ticket),
        "{record:?}"
    );
    assert!(record.current.create_time <= unix_now());

    // The next run is content with it.
    assert_eq!(
        refresher.refresh_all().await.ticket,
        token_refresh::TicketState::Ok
    );
}
