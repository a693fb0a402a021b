//! The four pushes an onboarding waits for (`wxa_nickname_audit`, `wxa_category_audit` on the
//! message URL; `notify_icpfiling_verify_result`, `notify_apply_icpfiling_result` on the
//! authorization event URL): stored for the mini program's running onboarding before WeChat is
//! answered; the onboarding's next run (the schedule) folds them in.

use shared::onboarding::push::{component_fact, message_fact, record};
use shared::store::onboardings::DynamoOnboardingStore;

use crate::NotifyError;

/// Stores the push if it is one of the four; true when a running onboarding took it.
pub async fn message_push(
    store: Option<&DynamoOnboardingStore>,
    appid: &str,
    plaintext: &str,
    create_time: i64,
) -> Result<bool, NotifyError> {
    let (Some(store), Some(fact)) = (store, message_fact(plaintext)) else {
        return Ok(false);
    };
    let taken = record(store, appid, &fact, create_time).await?;
    tracing::info!(appid, ?fact, taken, "onboarding push stored");
    Ok(taken)
}

/// [`message_push`] for the authorization event URL (the mini program is in the push).
pub async fn component_push(
    store: Option<&DynamoOnboardingStore>,
    plaintext: &str,
    create_time: i64,
) -> Result<bool, NotifyError> {
    let (Some(store), Some((appid, fact))) = (store, component_fact(plaintext)) else {
        return Ok(false);
    };
    let taken = record(store, &appid, &fact, create_time).await?;
    tracing::info!(appid, ?fact, taken, "onboarding push stored");
    Ok(taken)
}
