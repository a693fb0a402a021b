use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let delivery = webhook_delivery::Delivery::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(webhook_delivery::handle(&delivery, event.payload).await)
    }))
    .await
}
