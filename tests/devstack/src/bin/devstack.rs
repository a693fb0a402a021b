//! Local-stack helper.
//!
//! * `devstack create-tables PREFIX`: creates template.yaml's tables in the DynamoDB endpoint
//!   (`AWS_ENDPOINT_URL_DYNAMODB`) and prints `VAR=name` lines for the functions' environment;
//! * `devstack dump TABLE`: prints every item of a table as JSON lines (for looking at the demo).

use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};

fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(n)),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.iter().map(to_json).collect()),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        AttributeValue::Ss(set) => json!(set),
        AttributeValue::Ns(set) => json!(set),
        other => json!(format!("{other:?}")),
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let client = devstack::local_client().await;
    match args {
        [cmd, prefix] if cmd == "create-tables" => {
            let vars = devstack::create_tables(&client, prefix)
                .await
                .map_err(|e| e.to_string())?;
            for (var, name) in vars {
                println!("{var}={name}");
            }
            Ok(())
        }
        [cmd, table] if cmd == "dump" => {
            let mut pages = client.scan().table_name(table).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
                for item in page.items() {
                    let object: Map<String, Value> =
                        item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
                    println!("{}", Value::Object(object));
                }
            }
            Ok(())
        }
        _ => Err("usage: devstack create-tables PREFIX | devstack dump TABLE".into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devstack: {message}");
            ExitCode::FAILURE
        }
    }
}
