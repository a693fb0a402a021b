//! The console's browser tests' world: the platform's HTTP functions behind one local origin, routed
//! by path as template.yaml's HttpApi routes them (`/console/…`, `/admin/…`, `/auth/…`,
//! `/wechat/…`), and a real headless Chromium driven through chromedriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/lib.sh`'s `ensure_browser` installs).

#![recursion_limit = "256"]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use auth_callback::AuthCallback;
use auth_start::AuthStart;
use axum::body::Body as AxumBody;
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use code_admin::PlatformCodeAdmin;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use shared::store::{DynamoAuthorizerStore, DynamoTicketStore};
use ticket_receive::PlatformReceiver;

/// The HTTP functions of one platform, as their Lambda handlers.
pub struct Functions {
    pub admin: PlatformCodeAdmin,
    pub receiver: PlatformReceiver,
    pub start: AuthStart<DynamoTicketStore>,
    pub callback: AuthCallback<DynamoTicketStore, DynamoAuthorizerStore>,
}

/// The functions served on a loopback port.
pub struct LocalApi {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalApi {
    /// Serves the functions `build` makes for the origin it is given (the auth callback URL
    /// depends on it).
    pub async fn serve(build: impl FnOnce(&str) -> Functions) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let functions = Arc::new(build(&base_url));
        let app = axum::Router::new().fallback(dispatch).with_state(functions);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the local API");
        });
        Self { base_url, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// One request through the function its path belongs to, as API Gateway would hand it over.
async fn dispatch(State(functions): State<Arc<Functions>>, request: AxumRequest) -> AxumResponse {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let query: QueryMap = parts.uri.query().unwrap_or("").parse().unwrap_or_default();
    let mut builder = lambda_http::http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(binary) => Body::Binary(binary.into_bytes()),
        }
    };
    let request = builder
        .body(body)
        .expect("a request")
        .with_query_string_parameters(query);
    let path = parts.uri.path();
    let answer = if path == "/console" || path.starts_with("/console/") {
        Ok(console::handle(&request))
    } else if path.starts_with("/admin/") {
        code_admin::handle(&functions.admin, request).await
    } else if path == "/auth/start" {
        auth_start::handle(&functions.start, request).await
    } else if path == "/auth/callback" {
        auth_callback::handle(&functions.callback, request).await
    } else if path.starts_with("/wechat/") {
        ticket_receive::handle(&functions.receiver, request).await
    } else {
        Ok(lambda_http::Response::builder()
            .status(404)
            .body(Body::from("not found"))
            .expect("a response"))
    };
    let answer = answer.unwrap_or_else(|e| {
        lambda_http::Response::builder()
            .status(500)
            .body(Body::from(format!("handler failed: {e}")))
            .expect("a response")
    });
    let (parts, body) = answer.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

/// chromedriver on a free loopback port, in a process group of its own with the Chromium it
/// starts: dropping it (the test ended, passed or not) kills the group and removes the browsers'
/// profiles, so no browser outlives its test.
pub struct Driver {
    child: Child,
    pub url: String,
    profiles: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

impl Driver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary} did not start ({e}): `make test` installs chromium-driver")
            });
        let url = format!("http://127.0.0.1:{port}");
        let up = devstack::wait::poll(|| async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        up.expect("chromedriver listens");
        let profiles = std::env::temp_dir().join(format!("console-browser-{port}"));
        Self {
            child,
            url,
            profiles,
        }
    }
}

/// One headless Chromium session of `width`×`height`, with an empty profile.
pub async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let profile = driver.profiles.join(format!("{width}x{height}"));
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    // The flags Chromium needs as root on a machine without a display or outside network: no
    // sandbox, no GPU, and none of its background calls to Google's hosts.
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-extensions".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": binary, "args": args }),
    );
    ClientBuilder::rustls()
        .expect("a TLS setup")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session (is the chromium package installed?)")
}

/// How long the browser waits for something to appear.
pub fn ui_wait() -> Duration {
    devstack::wait::deadline()
}

/// The element `css` once it is there.
pub async fn find(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(ui_wait())
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

/// Clicks `css` once it is there and enabled.
pub async fn click(client: &Client, css: &str) {
    let element = find(client, css).await;
    let enabled = devstack::wait::poll(|| async {
        element.is_enabled().await.ok().filter(|e| *e).map(|_| ())
    })
    .await;
    enabled.unwrap_or_else(|| panic!("{css} stayed disabled"));
    // In the middle of the window: not under the sticky header, as a person would scroll to it.
    let arg = serde_json::to_value(&element).expect("an element as a script argument");
    client
        .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
        .await
        .expect("scrolling to the element");
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Types `text` into the field `css` (emptied first).
pub async fn fill(client: &Client, css: &str, text: &str) {
    let element = find(client, css).await;
    element.clear().await.expect("a field to clear");
    element
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

/// Waits until the text of `css` satisfies `test`; answers it.
pub async fn text_until(client: &Client, css: &str, test: impl Fn(&str) -> bool) -> String {
    let last = std::sync::Mutex::new(String::new());
    let found = devstack::wait::poll(|| {
        let (last, test) = (&last, &test);
        async move {
            let element = client.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            *last.lock().unwrap() = text.clone();
            test(&text).then_some(text)
        }
    })
    .await;
    let last = last.lock().unwrap().clone();
    found.unwrap_or_else(|| panic!("{css} never matched; its text was {last:?}"))
}

/// Confirms the console's confirmation dialog.
pub async fn confirm(client: &Client) {
    click(client, "dialog[open] #confirm-yes").await;
}

/// Where the run's screenshots go: `target/console-screenshots` of the workspace (or
/// `CONSOLE_SCREENSHOTS`).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
        })
}

/// Saves a screenshot of the page as `<name>.png`.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot written");
}

/// The page's own checks: what the browser's console logged as errors (a CSP violation, a
/// script error), which a test expects to be none.
pub async fn console_errors(client: &Client) -> Vec<String> {
    let logs = client
        .execute("return (window.__errors || []).slice();", Vec::new())
        .await
        .unwrap_or(json!([]));
    serde_json::from_value::<Vec<String>>(logs).unwrap_or_default()
}

/// Starts collecting the page's script errors and CSP violations (see [`console_errors`]).
pub async fn watch_errors(client: &Client) {
    client
        .execute(
            "window.__errors = []; \
             window.addEventListener('error', e => window.__errors.push(String(e.message))); \
             document.addEventListener('securitypolicyviolation', e => \
               window.__errors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));",
            Vec::new(),
        )
        .await
        .expect("the error watch");
}

/// The query of a URL as a map (for asserting where a link leads).
pub fn query_of(url: &str) -> HashMap<String, String> {
    url.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The gateway's AWS side in moto for a console test: the bus and the webhook queue, the admin
/// routes' client of them, the events table's stream driving event-publisher onto the bus (as
/// Lambda's event source mapping would), and webhook-delivery driven by the queue's event source,
/// POSTing to loopback (allowed as `make dev` allows it). A push stored by ticket-receive thus
/// reaches a subscribed receiver as it would on AWS.
pub struct WebhookRig {
    pub admin: code_admin::webhooks::WebhookAdmin,
    pub local: devstack::webhooks::LocalWebhooks,
    _source: devstack::event_source::EventSource,
    _outbox: devstack::stream_source::StreamSource,
}

impl WebhookRig {
    pub async fn start(platform: &shared::platform::Platform, name: &str) -> Self {
        use devstack::event_source::{self, unique_queue_name, QueueOptions, SourceOptions};
        let options = QueueOptions {
            visibility_timeout_secs: 2,
            max_receive_count: 100,
        };
        let local =
            devstack::webhooks::create_webhooks(&platform.sqs, &unique_queue_name(name), options)
                .await
                .unwrap_or_else(|e| panic!("the bus and webhook queue of {name}: {e}"));
        let store = shared::store::WebhookStore::new(
            platform.dynamo.clone(),
            &platform.tables.webhooks,
            &platform.tables.webhook_deliveries,
        );
        let policy = shared::webhook::TargetPolicy {
            allow_loopback: true,
        };
        let admin = code_admin::webhooks::WebhookAdmin {
            store: store.clone(),
            events: local.events.clone(),
            secrets: local.secrets.clone(),
            sqs: platform.sqs.clone(),
            settings: code_admin::webhooks::WebhookSettings {
                bus_name: local.bus_name.clone(),
                queue_url: local.queue.url.clone(),
                queue_arn: local.queue.arn.clone(),
                secret_prefix: local.secret_prefix.clone(),
                policy,
            },
        };
        let settings = webhook_delivery::Settings {
            queue_url: local.queue.url.clone(),
            dlq_url: local.queue.dlq_url.clone(),
            secret_prefix: local.secret_prefix.clone(),
            policy,
            retry: webhook_delivery::RetryPolicy {
                base_secs: 1,
                max_delay_secs: 1,
                max_age_secs: 3600,
            },
            timeout: Duration::from_secs(3),
            busy_secs: 1,
        };
        let delivery = Arc::new(
            webhook_delivery::Delivery::new(
                store,
                local.secrets.clone(),
                platform.sqs.clone(),
                settings,
            )
            .expect("an HTTP client"),
        );
        let source = event_source::start(&local.queue, SourceOptions::default(), move |batch| {
            let delivery = delivery.clone();
            async move { Ok::<_, std::convert::Infallible>(delivery.handle_batch(batch).await) }
        });
        let publisher = Arc::new(event_publisher::Publisher::new(
            platform.event_store(),
            event_publisher::EventBridgeBus::new(local.events.clone(), &local.bus_name),
        ));
        let stream_arn =
            devstack::stream_source::table_stream(&platform.dynamo, &platform.tables.events)
                .await
                .expect("the events table's stream");
        let outbox = devstack::stream_source::start(
            devstack::stream_source::local_streams_client().await,
            platform.sqs.clone(),
            &stream_arn,
            devstack::stream_source::StreamOptions::default(),
            move |event| {
                let publisher = publisher.clone();
                async move { Ok::<_, String>(publisher.handle(event).await) }
            },
        )
        .await
        .expect("the outbox's stream source");
        Self {
            admin,
            local,
            _source: source,
            _outbox: outbox,
        }
    }
}
