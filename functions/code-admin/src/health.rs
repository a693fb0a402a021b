//! `GET /admin/health`: what an operator checks first when something stops working — the
//! component_verify_ticket's age (WeChat pushes one every 10 minutes; each is valid 12 hours),
//! the component_access_token's expiry and the last token-refresh run.

use serde_json::{json, Value};
use shared::store::{
    ComponentTokenStore, DynamoTicketStore, RefreshRunStore, StoreError, TicketStore,
};

/// A ticket older than this means pushes stopped (a few missed pushes are normal).
const TICKET_LATE_SECS: i64 = 30 * 60;
/// WeChat's validity of one ticket (验证票据, component_verify_ticket).
const TICKET_VALID_SECS: i64 = 12 * 3600;

/// How the newest ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketHealth {
    Fresh,
    Late,
    Expired,
    Missing,
}

impl TicketHealth {
    fn of(age_secs: Option<i64>) -> Self {
        match age_secs {
            None => Self::Missing,
            Some(age) if age > TICKET_VALID_SECS => Self::Expired,
            Some(age) if age > TICKET_LATE_SECS => Self::Late,
            Some(_) => Self::Fresh,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Late => "late",
            Self::Expired => "expired",
            Self::Missing => "missing",
        }
    }
}

/// The health document of `component_appid` at `now`.
pub(crate) async fn platform_health(
    store: &DynamoTicketStore,
    component_appid: &str,
    now: i64,
) -> Result<Value, StoreError> {
    let (ticket, token, run) = tokio::try_join!(
        store.verify_ticket(component_appid),
        store.stored_component_token(component_appid),
        store.last_refresh_run(component_appid),
    )?;
    let received_at = ticket.as_ref().map(|t| t.current.received_at);
    let age_secs = received_at.map(|at| (now - at).max(0));
    let token_valid = token.token.is_some() && token.expires_at > now;
    Ok(json!({
        "component_appid": component_appid,
        "now": now,
        "ticket": {
            "state": TicketHealth::of(age_secs).as_str(),
            "received_at": received_at,
            "create_time": ticket.as_ref().map(|t| t.current.create_time),
            "age_secs": age_secs,
        },
        "component_token": {
            "valid": token_valid,
            "expires_at": token.token.is_some().then_some(token.expires_at),
            "expires_in_secs": token_valid.then(|| token.expires_at - now),
        },
        "last_refresh": run,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_states_follow_the_push_interval_and_validity() {
        assert_eq!(TicketHealth::of(None), TicketHealth::Missing);
        assert_eq!(TicketHealth::of(Some(600)), TicketHealth::Fresh);
        assert_eq!(TicketHealth::of(Some(3600)), TicketHealth::Late);
        assert_eq!(TicketHealth::of(Some(13 * 3600)), TicketHealth::Expired);
    }
}
