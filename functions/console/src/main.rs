use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(|request| async move {
        Ok::<_, Error>(console::handle(&request))
    }))
    .await
}
