use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let gateway = service_gateway::Gateway::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        service_gateway::handle(&gateway, event.payload)
    }))
    .await
}
