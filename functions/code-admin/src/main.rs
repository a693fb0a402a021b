use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let admin = code_admin::CodeAdmin::from_env().await?;
    run(service_fn(|request| code_admin::handle(&admin, request))).await
}
