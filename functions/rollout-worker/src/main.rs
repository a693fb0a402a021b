#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let worker = rollout_worker::Worker::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        rollout_worker::handle(&worker, event.payload)
    }))
    .await
}
