//! The smallest `lambda_http` function (cargo lambda's template: a tracing subscriber and a
//! handler answering "ok"). Not deployed: `make bench-init` measures its init beside every
//! function's, built with the same release profile, as the floor no function can go under.

use lambda_http::{run, service_fn, tracing, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::new(Body::from("ok")))
    }))
    .await
}
