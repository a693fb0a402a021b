//! API Gateway HTTP API (payload 2.0) events for calling the functions' handlers in tests, built
//! from a fixture as Lambda receives them (`lambda_http::request::from_str`).

use serde_json::Value;

/// An event for `method path?query` with `headers` and `body`.
pub fn request(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut json: Value =
        serde_json::from_str(include_str!("../data/apigw-http.json")).expect("fixture");
    let raw: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                shared::web::encode_query_value(k),
                shared::web::encode_query_value(v)
            )
        })
        .collect();
    json["rawPath"] = path.into();
    json["routeKey"] = format!("{method} {path}").into();
    json["requestContext"]["http"]["method"] = method.into();
    json["requestContext"]["http"]["path"] = path.into();
    json["requestContext"]["routeKey"] = format!("{method} {path}").into();
    json["rawQueryString"] = raw.join("&").into();
    json["queryStringParameters"] = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    for (name, value) in headers {
        json["headers"][name.to_ascii_lowercase()] = (*value).into();
    }
    json["body"] = body.into();
    lambda_http::request::from_str(&json.to_string()).expect("a valid API Gateway event")
}

/// The authorization event URL's POST, as WeChat sends a push.
pub fn push(query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    xml_post("/wechat/component/notify", query, body)
}

/// The message URL's POST of `appid`, as WeChat sends a push.
pub fn message_push(appid: &str, query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    xml_post(&format!("/wechat/authorizer/{appid}/notify"), query, body)
}

fn xml_post(path: &str, query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    request("POST", path, query, &[("content-type", "text/xml")], body)
}

/// A GET, optionally asking for JSON.
pub fn get(path: &str, query: &[(&str, &str)], json: bool) -> lambda_http::Request {
    let accept = if json {
        "application/json"
    } else {
        "text/html"
    };
    request("GET", path, query, &[("accept", accept)], "")
}

/// The body of a handler's response as text.
pub fn body_text(response: &lambda_http::Response<lambda_http::Body>) -> String {
    String::from_utf8(response.body().to_vec()).expect("UTF-8 body")
}

/// A request as it reached a function served by [`serve`]: enough to hand it to the handler as
/// API Gateway would, as often as a test wants (WeChat's retry is the same request again).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: String,
    pub body: String,
}

impl Call {
    /// The API Gateway event of this request.
    pub fn request(&self) -> lambda_http::Request {
        let query: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let headers = [("content-type", self.content_type.as_str())];
        request(&self.method, &self.path, &query, &headers, &self.body)
    }

    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A function's handler served over HTTP on a loopback port, so that the simulator can push to
/// it as WeChat pushes to API Gateway. Stops when dropped.
pub struct Served {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `handler` (a function's handler, or a test's wrapper around it) on a free loopback
/// port: every request becomes a [`Call`], the handler's response goes back as it is.
pub async fn serve<F, Fut>(handler: F) -> Served
where
    F: Fn(Call) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'static,
{
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    use axum::response::IntoResponse;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            async move {
                let url = reqwest::Url::parse(&format!("http://function{uri}")).expect("a URI");
                let call = Call {
                    method: method.to_string(),
                    path: url.path().to_owned(),
                    query: url.query_pairs().into_owned().collect(),
                    content_type: headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let response = handler(call).await;
                let (parts, body) = response.into_parts();
                (parts.status, parts.headers, body.to_vec()).into_response()
            }
        },
    );
    let task = tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Served { addr, task }
}
