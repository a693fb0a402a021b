//! The platform's side of the simulator's bulk authorizations: many authorizers written at once,
//! for scale tests and benchmarks (what the exchange would store, without a page per owner).

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use shared::platform::Platform;
use shared::store::unix_now;

/// Puts `items` into `table`, 25 to a request, until DynamoDB has processed every one.
pub async fn put_items(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<std::collections::HashMap<String, AttributeValue>>,
) {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = Some(chunk.to_vec());
        while let Some(batch) = pending.take().filter(|b| !b.is_empty()) {
            let out = dynamo
                .batch_write_item()
                .request_items(table, batch)
                .send()
                .await
                .unwrap_or_else(|e| panic!("BatchWriteItem on {table}: {e}"));
            pending = out.unprocessed_items.and_then(|mut u| u.remove(table));
        }
    }
}

/// Stores each of the simulator's bulk mini programs (`(appid, refresh_token)`, as
/// `SimControl::bulk_authorize` answers) as an authorized mini program with permission sets 17
/// and 18 and the simulator's original id (`gh_` and the appid without `wx`), without an access
/// token: the first call for each refreshes one, as after a long pause.
pub async fn store_code_authorizers(platform: &Platform, bulk: &[(String, String)]) {
    let now = unix_now();
    let number = |n: i64| AttributeValue::N(n.to_string());
    let text = |s: &str| AttributeValue::S(s.to_owned());
    let items = bulk
        .iter()
        .map(|(appid, refresh_token)| {
            std::collections::HashMap::from([
                ("authorizer_appid".to_owned(), text(appid)),
                ("status".to_owned(), text("authorized")),
                ("refresh_token".to_owned(), text(refresh_token)),
                ("token_version".to_owned(), number(1)),
                ("last_event_time".to_owned(), number(now)),
                ("authorized_at".to_owned(), number(now)),
                (
                    "permission_sets".to_owned(),
                    AttributeValue::L(vec![number(17), number(18)]),
                ),
                ("has_code_management".to_owned(), AttributeValue::Bool(true)),
                ("user_name".to_owned(), text(&format!("gh_{}", &appid[2..]))),
                ("nick_name".to_owned(), text(&format!("Shop {appid}"))),
            ])
        })
        .collect();
    put_items(&platform.dynamo, &platform.tables.authorizers, items).await;
}
