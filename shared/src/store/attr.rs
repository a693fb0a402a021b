//! Reading typed values out of DynamoDB items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A required string attribute.
pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        other => Err(StoreError::Malformed(format!(
            "{name}: expected a string, found {}",
            kind(other)
        ))),
    }
}

/// A required number attribute holding an integer.
pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Malformed(format!("{name}: {v:?} is not an integer"))),
        other => Err(StoreError::Malformed(format!(
            "{name}: expected a number, found {}",
            kind(other)
        ))),
    }
}

/// An optional string attribute (absent or NULL → None).
pub fn opt_s(item: &Item, name: &str) -> Result<Option<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_s(item, name).map(Some),
    }
}

/// An optional number attribute (absent or NULL → None).
pub fn opt_n(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, name).map(Some),
    }
}

fn kind(value: Option<&AttributeValue>) -> &'static str {
    match value {
        None => "nothing",
        Some(AttributeValue::S(_)) => "a string",
        Some(AttributeValue::N(_)) => "a number",
        Some(AttributeValue::Bool(_)) => "a boolean",
        Some(AttributeValue::Null(_)) => "null",
        Some(AttributeValue::M(_)) => "a map",
        Some(AttributeValue::L(_)) => "a list",
        Some(_) => "another type",
    }
}
