use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let refresher = token_refresh::Refresher::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        token_refresh::handle(&refresher, event.payload)
    }))
    .await
}
