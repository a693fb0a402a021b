//! Attribute values: building them, and reading typed values out of DynamoDB items.
//!
//! A reader is [`get`]: `get::<String>(item, "ticket")` for a required attribute,
//! `get::<Option<i64>>(item, "lease_until")` for an optional one (absent or NULL → None), and the
//! statuses as their enums (`get::<AuthorizerStatus>(item, "status")`), so that a stored string no
//! status has is refused here, where the item is read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::SecretString;

use super::StoreError;
use crate::audit::AuditStatus;
use crate::authorizer::AuthorizerStatus;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A type read from a whole item (`T::try_from(&item)`), by hand or with `from_item!`.
pub trait FromItem: for<'a> TryFrom<&'a Item, Error = StoreError> {}

impl<T: for<'a> TryFrom<&'a Item, Error = StoreError>> FromItem for T {}

/// `impl TryFrom<&Item> for $type`, a field per attribute as serde's derive would do it: each
/// field read with [`get`] from the attribute of its name (or the one after `=`), so an `Option`
/// field is optional and any other required; the fields after `default:` read an absent (or
/// NULL) attribute as their type's default ([`get_or_default`]).
///
/// ```ignore
/// from_item! { DueAuthorizer {
///     appid = PK, access_token_expires_at, refresh_token, lease_until;
///     default: token_version
/// } }
/// ```
macro_rules! from_item {
    (@attribute $field:ident) => { stringify!($field) };
    (@attribute $field:ident $attribute:tt) => { $attribute };
    ($type:ident {
        $($field:ident $(= $attribute:tt)?),* $(,)?
        $(; default: $($default:ident $(= $default_attribute:tt)?),* $(,)?)?
    }) => {
        impl TryFrom<&$crate::store::attr::Item> for $type {
            type Error = $crate::store::StoreError;

            fn try_from(item: &$crate::store::attr::Item) -> Result<Self, Self::Error> {
                use $crate::store::attr as attr;
                Ok(Self {
                    $($field: attr::get(item, attr::from_item!(@attribute $field $($attribute)?))?,)*
                    $($(
                        $default: attr::get_or_default(
                            item,
                            attr::from_item!(@attribute $default $($default_attribute)?),
                        )?,
                    )*)?
                })
            }
        }
    };
}
pub(crate) use from_item;

/// Attribute `name` of `item`, read as a `T`.
pub fn get<T: FromAttribute>(item: &Item, name: &str) -> Result<T, StoreError> {
    T::from_attribute(name, item.get(name))
}

/// Attribute `name` of `item`, read as a `T`; its default (0, "", empty) when absent or NULL.
pub fn get_or_default<T: FromAttribute + Default>(
    item: &Item,
    name: &str,
) -> Result<T, StoreError> {
    get::<Option<T>>(item, name).map(Option::unwrap_or_default)
}

/// A type an attribute is read as; `value` is None when the item has no such attribute.
pub trait FromAttribute: Sized {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError>;
}

/// Absent or NULL → None.
impl<T: FromAttribute> FromAttribute for Option<T> {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        match value {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => T::from_attribute(name, value).map(Some),
        }
    }
}

impl FromAttribute for String {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        match value {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            other => Err(unexpected(name, "a string", other)),
        }
    }
}

impl FromAttribute for SecretString {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        String::from_attribute(name, value).map(SecretString::from)
    }
}

/// A number holding an integer.
impl FromAttribute for i64 {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        match value {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| StoreError::Malformed(format!("{name}: {v:?} is not an integer"))),
            other => Err(unexpected(name, "a number", other)),
        }
    }
}

impl FromAttribute for bool {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        match value {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            other => Err(unexpected(name, "a boolean", other)),
        }
    }
}

/// A list of integers; an item without the list (or with something else there) has none.
impl FromAttribute for Vec<i64> {
    fn from_attribute(name: &str, value: Option<&AttributeValue>) -> Result<Self, StoreError> {
        match value {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| i64::from_attribute(name, Some(v)))
                .collect(),
            _ => Ok(Vec::new()),
        }
    }
}

/// A status kept as its text.
macro_rules! text_enum {
    ($($status:ty),* $(,)?) => {$(
        impl $crate::store::attr::FromAttribute for $status {
            fn from_attribute(
                name: &str,
                value: Option<&aws_sdk_dynamodb::types::AttributeValue>,
            ) -> Result<Self, $crate::store::StoreError> {
                let text = <String as $crate::store::attr::FromAttribute>::from_attribute(name, value)?;
                <$status>::parse(&text).ok_or_else(|| {
                    $crate::store::StoreError::Malformed(format!("{name}: no status {text:?}"))
                })
            }
        }
    )*};
}

pub(crate) use text_enum;

text_enum!(AuthorizerStatus, AuditStatus);
text_enum!(super::registrations::RegistrationState);

fn unexpected(name: &str, expected: &str, found: Option<&AttributeValue>) -> StoreError {
    let found = match found {
        None => "nothing",
        Some(AttributeValue::S(_)) => "a string",
        Some(AttributeValue::N(_)) => "a number",
        Some(AttributeValue::Bool(_)) => "a boolean",
        Some(AttributeValue::Null(_)) => "null",
        Some(AttributeValue::M(_)) => "a map",
        Some(AttributeValue::L(_)) => "a list",
        Some(_) => "another type",
    };
    StoreError::Malformed(format!("{name}: expected {expected}, found {found}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn reads_required_optional_and_null() {
        let it = item(&[
            ("a", s("x")),
            ("b", n(7)),
            ("c", AttributeValue::Null(true)),
        ]);
        assert_eq!(get::<String>(&it, "a").unwrap(), "x");
        assert_eq!(get::<i64>(&it, "b").unwrap(), 7);
        assert_eq!(get::<Option<i64>>(&it, "b").unwrap(), Some(7));
        assert_eq!(get::<Option<String>>(&it, "c").unwrap(), None);
        assert_eq!(get::<Option<String>>(&it, "absent").unwrap(), None);
        assert!(get::<String>(&it, "absent").is_err());
        assert!(get::<String>(&it, "c").is_err());
        assert!(get::<i64>(&it, "a").is_err());
        assert!(get::<Option<i64>>(&it, "a").is_err());
    }

    #[test]
    fn reads_integer_lists_and_statuses() {
        let it = item(&[
            ("sets", AttributeValue::L(vec![n(18), n(2)])),
            ("bad", AttributeValue::L(vec![s("x")])),
            ("status", s("reauthorization_required")),
            ("other", s("paused")),
        ]);
        assert_eq!(get::<Vec<i64>>(&it, "sets").unwrap(), vec![18, 2]);
        assert_eq!(get::<Vec<i64>>(&it, "absent").unwrap(), Vec::<i64>::new());
        assert!(get::<Vec<i64>>(&it, "bad").is_err());
        assert_eq!(
            get::<AuthorizerStatus>(&it, "status").unwrap(),
            AuthorizerStatus::ReauthorizationRequired
        );
        assert!(get::<AuthorizerStatus>(&it, "other").is_err());
        assert!(get::<Option<AuditStatus>>(&it, "absent").unwrap().is_none());
    }
}
