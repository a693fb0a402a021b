//! verify + decrypt + parse of one component_verify_ticket push (the wechatpy "ticket" vector),
//! the work ticket-receive does per push before its DynamoDB write. `make bench` compares it with
//! wechatpy's WeChatCrypto.decrypt_message on the same push.

use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;
use shared::crypto::MessageCrypto;
use shared::push::{AuthorizationEvent, AuthorizationPush, Envelope};
use std::hint::black_box;

fn ticket_push(c: &mut Criterion) {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/push-crypto.json")).unwrap();
    let vector = file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "ticket")
        .unwrap();
    let query = &vector["query"];
    let (timestamp, nonce, signature) = (
        query["timestamp"].as_str().unwrap(),
        query["nonce"].as_str().unwrap(),
        query["msg_signature"].as_str().unwrap(),
    );
    let body = vector["body"].as_str().unwrap();
    let crypto = MessageCrypto::new(
        SecretString::from(file["token"].as_str().unwrap()),
        file["component_appid"].as_str().unwrap(),
        file["encoding_aes_key"].as_str().unwrap(),
        None,
    )
    .unwrap();
    c.bench_function("ticket_push_verify_decrypt_parse", |b| {
        b.iter(|| {
            let envelope = Envelope::parse(black_box(body)).unwrap();
            let (plaintext, _) = crypto
                .open(signature, timestamp, nonce, &envelope.encrypt)
                .unwrap();
            let push = AuthorizationPush::parse(&plaintext).unwrap();
            assert!(matches!(
                push.event,
                AuthorizationEvent::ComponentVerifyTicket { .. }
            ));
            push
        })
    });
}

criterion_group!(benches, ticket_push);
criterion_main!(benches);
