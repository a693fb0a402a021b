use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use shared::stream::StreamEvent;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let publisher = event_publisher::PlatformPublisher::from_env().await?;
    run(service_fn(|event: LambdaEvent<StreamEvent>| {
        let publisher = &publisher;
        async move { Ok::<_, Error>(publisher.handle(event.payload).await) }
    }))
    .await
}
