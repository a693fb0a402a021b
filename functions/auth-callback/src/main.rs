use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let callback = auth_callback::AuthCallback::from_env().await?;
    run(service_fn(|request| {
        auth_callback::handle(&callback, request)
    }))
    .await
}
