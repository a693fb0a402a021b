//! The local SQS event source against moto's SQS, with dummy handlers: what a Lambda SQS event
//! source mapping with ReportBatchItemFailures promises (each message handled is deleted once,
//! a failed one comes back after its visibility timeout and ends in the dead-letter queue after
//! maxReceiveCount receives, a handler error fails its whole batch, at most N invocations at a
//! time), and the step queue of `shared::queue` as the world's platform sends to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use devstack::event_source::{self, LocalQueue, QueueOptions, SourceOptions};
use devstack::sim::{Component, Setup};
use devstack::wait;
use shared::queue::StepQueue;

/// One delivery as a handler saw it.
#[derive(Debug, Clone)]
struct Delivery {
    body: String,
    message_id: String,
    receive_count: u64,
    batch: usize,
    at: Instant,
}

/// Every delivery the handler saw, in order, and the number of batches.
#[derive(Default)]
struct Seen {
    deliveries: Mutex<Vec<Delivery>>,
    batches: AtomicUsize,
}

impl Seen {
    /// Records `event`'s messages as one batch; its index.
    fn record(&self, event: &SqsEvent, queue_arn: &str) -> usize {
        let batch = self.batches.fetch_add(1, Ordering::SeqCst);
        let mut deliveries = self.deliveries.lock().unwrap();
        for record in &event.records {
            assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
            assert_eq!(record.event_source_arn.as_deref(), Some(queue_arn));
            assert!(record.receipt_handle.is_some(), "{record:?}");
            assert!(
                record.attributes.contains_key("SentTimestamp"),
                "{record:?}"
            );
            deliveries.push(Delivery {
                body: record.body.clone().expect("a body"),
                message_id: record.message_id.clone().expect("a message id"),
                receive_count: record.attributes["ApproximateReceiveCount"]
                    .parse()
                    .expect("a count"),
                batch,
                at: Instant::now(),
            });
        }
        batch
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// How often each body was delivered.
    fn per_body(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for d in self.deliveries() {
            *counts.entry(d.body).or_default() += 1;
        }
        counts
    }
}

#[test]
fn make_dev_makes_the_queue_of_the_template() {
    let template = devstack::read_template(&devstack::template_path()).unwrap();
    let options = QueueOptions::of_template(&template).unwrap();
    assert_eq!(
        (options.visibility_timeout_secs, options.max_receive_count),
        (180, 5),
        "six times the worker's timeout; five receives"
    );
}

async fn queue(test: &str, options: QueueOptions) -> LocalQueue {
    let client = devstack::local_sqs_client().await;
    let name = event_source::unique_queue_name(test);
    event_source::create_queue(&client, &name, options)
        .await
        .expect("queues created")
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"step\":{i}}}")).collect()
}

/// A batch answer failing the messages of `event` whose body `fails`.
fn failing(event: &SqsEvent, fails: impl Fn(&str) -> bool) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        if fails(record.body.as_deref().unwrap_or_default()) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn drained(queue: &LocalQueue) {
    if let Err(left) = queue.wait_drained(wait::deadline()).await {
        panic!("the queue still holds {left:?}");
    }
}

#[tokio::test]
async fn every_message_handled_is_delivered_once_and_deleted() {
    let w = Setup::new(&Component::new("wxeventsource0001", "es-secret", "estoken"))
        .start("es_once")
        .await;
    // Sent by the product's own step queue: 25 bodies are three SendMessageBatch requests.
    let all = bodies(25);
    let step_queue = w
        .platform
        .rollout_queue()
        .expect("the world sets the queue URL");
    assert_eq!(step_queue.url(), w.queue.url);
    step_queue.send_batch(&all).await.expect("sent");
    step_queue
        .send("{\"step\":\"delayed\"}", 1)
        .await
        .expect("sent");

    let seen = Arc::new(Seen::default());
    let (recorder, arn) = (seen.clone(), w.queue.arn.clone());
    let source = event_source::start(&w.queue, SourceOptions::default(), move |event| {
        recorder.record(&event, &arn);
        async { Ok::<_, String>(SqsBatchResponse::default()) }
    });
    drained(&w.queue).await;
    let counts = source.stop().await;

    let per_body = seen.per_body();
    assert_eq!(per_body.len(), 26, "{per_body:?}");
    assert!(per_body.values().all(|n| *n == 1), "{per_body:?}");
    assert!(seen.deliveries().iter().all(|d| d.receive_count == 1));
    assert_eq!(counts.received, 26, "{counts:?}");
    assert_eq!(counts.deleted, 26, "{counts:?}");
    assert_eq!((counts.failed, counts.sqs_errors), (0, 0), "{counts:?}");
    assert!(counts.batches >= 3, "at most 10 a batch: {counts:?}");
    assert!(w.queue.dead_letter_depth().await.is_empty());
}

#[tokio::test]
async fn a_failed_message_comes_back_after_the_visibility_timeout_then_goes_to_the_dlq() {
    let options = QueueOptions {
        visibility_timeout_secs: 2,
        max_receive_count: 3,
    };
    let q = queue("es_redrive", options).await;
    assert_eq!(q.options, options, "the queue as SQS describes it");
    for body in ["ok-1", "poison", "ok-2"] {
        q.send(body).await;
    }
    let seen = Arc::new(Seen::default());
    let (recorder, arn) = (seen.clone(), q.arn.clone());
    let source = event_source::start(&q, SourceOptions::default(), move |event| {
        recorder.record(&event, &arn);
        let response = failing(&event, |body| body == "poison");
        async { Ok::<_, String>(response) }
    });
    let moved = wait::poll(|| async { (!q.dead_letter_depth().await.is_empty()).then_some(()) });
    moved
        .await
        .expect("the poison message reaches the dead-letter queue");
    drained(&q).await;
    let counts = source.stop().await;

    let poison: Vec<Delivery> = seen
        .deliveries()
        .into_iter()
        .filter(|d| d.body == "poison")
        .collect();
    let receive_counts: Vec<u64> = poison.iter().map(|d| d.receive_count).collect();
    assert_eq!(
        receive_counts,
        [1, 2, 3],
        "maxReceiveCount deliveries, no more"
    );
    assert!(poison
        .windows(2)
        .all(|p| p[0].message_id == p[1].message_id));
    // Not before its visibility timeout (less a second: the time between SQS's receive and the
    // handler's clock reading, on a loaded machine).
    let at_least =
        Duration::from_secs(options.visibility_timeout_secs.into()) - Duration::from_secs(1);
    for pair in poison.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= at_least, "redelivered after {gap:?}");
    }
    let per_body = seen.per_body();
    assert_eq!((per_body["ok-1"], per_body["ok-2"]), (1, 1), "{per_body:?}");
    assert_eq!(counts.received, 5, "{counts:?}");
    assert_eq!(counts.failed, 3, "{counts:?}");
    assert_eq!(counts.deleted, 2, "{counts:?}");

    let letters = q.take_dead_letters().await;
    let dead: Vec<(&str, u64)> = letters
        .iter()
        .map(|l| (l.body.as_str(), l.receive_count))
        .collect();
    assert_eq!(dead, [("poison", 3)]);
    assert!(q.dead_letter_depth().await.is_empty(), "taken");
}

#[tokio::test]
async fn a_handler_error_fails_its_whole_batch() {
    let q = queue("es_error", QueueOptions::default()).await;
    let step_queue = shared::queue::SqsQueue::new(q.client.clone(), &q.url);
    step_queue.send_batch(&bodies(4)).await.expect("sent");
    let seen = Arc::new(Seen::default());
    let (recorder, arn) = (seen.clone(), q.arn.clone());
    let options = SourceOptions {
        concurrency: 1,
        ..SourceOptions::default()
    };
    let source = event_source::start(&q, options, move |event| {
        let batch = recorder.record(&event, &arn);
        async move {
            if batch == 0 {
                Err("the first invocation fails".to_owned())
            } else {
                Ok(SqsBatchResponse::default())
            }
        }
    });
    drained(&q).await;
    let counts = source.stop().await;

    let deliveries = seen.deliveries();
    let first: Vec<&Delivery> = deliveries.iter().filter(|d| d.batch == 0).collect();
    assert!(!first.is_empty());
    for failed in &first {
        let again: Vec<u64> = deliveries
            .iter()
            .filter(|d| d.message_id == failed.message_id && d.batch > 0)
            .map(|d| d.receive_count)
            .collect();
        assert_eq!(again, [2], "{} delivered again, once", failed.body);
    }
    let per_body = seen.per_body();
    assert_eq!(per_body.len(), 4, "{per_body:?}");
    assert_eq!(counts.failed as usize, first.len(), "{counts:?}");
    assert_eq!(counts.deleted, 4, "{counts:?}");
    assert!(q.dead_letter_depth().await.is_empty());
}

#[tokio::test]
async fn an_answer_naming_no_message_of_the_batch_fails_the_batch() {
    let q = queue("es_bad_id", QueueOptions::default()).await;
    q.send("only").await;
    let seen = Arc::new(Seen::default());
    let (recorder, arn) = (seen.clone(), q.arn.clone());
    let source = event_source::start(&q, SourceOptions::default(), move |event| {
        let batch = recorder.record(&event, &arn);
        let mut response = SqsBatchResponse::default();
        if batch == 0 {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = "not-a-message-of-this-batch".into();
            response.batch_item_failures.push(failure);
        }
        async { Ok::<_, String>(response) }
    });
    drained(&q).await;
    let counts = source.stop().await;
    let receive_counts: Vec<u64> = seen.deliveries().iter().map(|d| d.receive_count).collect();
    assert_eq!(receive_counts, [1, 2]);
    assert_eq!((counts.failed, counts.deleted), (1, 1), "{counts:?}");
}

#[tokio::test]
async fn invocations_never_exceed_the_concurrency() {
    const N: usize = 3;
    let q = queue("es_concurrency", QueueOptions::default()).await;
    let step_queue = shared::queue::SqsQueue::new(q.client.clone(), &q.url);
    step_queue.send_batch(&bodies(12)).await.expect("sent");
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let options = SourceOptions {
        concurrency: N,
        batch_size: 1,
        ..SourceOptions::default()
    };
    let (now, top, done) = (in_flight.clone(), most.clone(), handled.clone());
    let source = event_source::start(&q, options, move |event| {
        let (now, top, done) = (now.clone(), top.clone(), done.clone());
        async move {
            let running = now.fetch_add(1, Ordering::SeqCst) + 1;
            top.fetch_max(running, Ordering::SeqCst);
            // Hold the invocation until N are running (or the deadline passes), so that a
            // source without a bound would start more meanwhile.
            let full = wait::poll(|| async { (top.load(Ordering::SeqCst) >= N).then_some(()) });
            full.await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            done.fetch_add(event.records.len(), Ordering::SeqCst);
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(SqsBatchResponse::default())
        }
    });
    drained(&q).await;
    let counts = source.stop().await;
    assert_eq!(
        most.load(Ordering::SeqCst),
        N,
        "at most N at a time, and N reached"
    );
    assert_eq!(handled.load(Ordering::SeqCst), 12);
    assert_eq!((counts.received, counts.deleted), (12, 12), "{counts:?}");
}

#[tokio::test]
async fn the_drain_wait_ends_only_once_the_queue_is_empty() {
    // Enough receives that the failing source below never sends it to the dead-letter queue.
    let options = QueueOptions {
        max_receive_count: 10,
        ..QueueOptions::default()
    };
    let q = queue("es_drain", options).await;
    q.send("waiting").await;
    let left = q
        .wait_drained(Duration::from_millis(300))
        .await
        .expect_err("a message is waiting");
    assert_eq!(left.visible, 1, "{left:?}");

    // Received and not deleted: in flight, still not drained.
    let source = event_source::start(&q, SourceOptions::default(), |_event| async {
        Err::<SqsBatchResponse, _>("failing everything")
    });
    let in_flight = wait::poll(|| async {
        let depth = q.depth().await;
        (depth.in_flight == 1).then_some(depth)
    });
    in_flight.await.expect("received");
    let left = q
        .wait_drained(Duration::from_millis(300))
        .await
        .expect_err("in flight");
    assert_eq!(left.visible + left.in_flight, 1, "{left:?}");
    source.stop().await;

    let source = event_source::start(&q, SourceOptions::default(), |_event| async {
        Ok::<_, String>(SqsBatchResponse::default())
    });
    drained(&q).await;
    assert_eq!(source.stop().await.deleted, 1);
}

/// A stand-in for cargo lambda watch's invoke API: the function fails the messages whose body is
/// "poison", errs (as the runtime reports it) on "crash", answers nothing on "quiet" and
/// something else than a batch response on "odd".
async fn invoke_api() -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        axum::routing::post(
            |axum::extract::Path(name): axum::extract::Path<String>,
             axum::Json(event): axum::Json<SqsEvent>| async move {
                let body = event.records[0].body.clone().unwrap_or_default();
                match body.as_str() {
                    _ if name != "rollout-worker" => StatusCode::NOT_FOUND.into_response(),
                    "crash" => (
                        StatusCode::OK,
                        [("x-amz-function-error", "Unhandled")],
                        r#"{"errorType":"panic","errorMessage":"boom"}"#.to_owned(),
                    )
                        .into_response(),
                    "quiet" => StatusCode::OK.into_response(),
                    "odd" => {
                        axum::Json(serde_json::json!({"batchItemFailures": 3})).into_response()
                    }
                    _ => {
                        let response = failing(&event, |b| b == "poison");
                        axum::Json(response).into_response()
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server)
}

fn event_of(bodies: &[&str]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = aws_lambda_events::sqs::SqsMessage::default();
            record.message_id = Some(format!("id-{i}"));
            record.body = Some((*body).to_owned());
            record
        })
        .collect();
    event
}

#[tokio::test]
async fn a_function_behind_the_invoke_api_answers_as_lambda_reads_it() {
    let (base, server) = invoke_api().await;
    let invoke = event_source::invoking::<SqsEvent, SqsBatchResponse>(
        reqwest::Client::new(),
        &base,
        "rollout-worker",
    );
    let answer = invoke(event_of(&["fine", "poison", "fine"])).await.unwrap();
    let failed: Vec<&str> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["id-1"]);
    let quiet = invoke(event_of(&["quiet"])).await.unwrap();
    assert!(
        quiet.batch_item_failures.is_empty(),
        "nothing answered: nothing failed"
    );
    let crash = invoke(event_of(&["crash"])).await.unwrap_err();
    assert!(
        matches!(crash, event_source::InvokeError::Function(_)),
        "{crash}"
    );
    let odd = invoke(event_of(&["odd"])).await.unwrap_err();
    assert!(matches!(odd, event_source::InvokeError::Answer(_)), "{odd}");
    let missing = event_source::invoking::<SqsEvent, SqsBatchResponse>(
        reqwest::Client::new(),
        &base,
        "no-such-function",
    );
    assert!(
        missing(event_of(&["fine"])).await.is_err(),
        "a 404 fails the batch"
    );
    server.abort();
}
