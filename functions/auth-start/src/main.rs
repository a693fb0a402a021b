use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let start = auth_start::AuthStart::from_env().await?;
    run(service_fn(|request| auth_start::handle(&start, request))).await
}
