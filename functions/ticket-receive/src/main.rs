use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let receiver = ticket_receive::Receiver::from_env().await?;
    run(service_fn(|request| {
        ticket_receive::handle(&receiver, request)
    }))
    .await
}
