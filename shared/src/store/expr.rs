//! The expressions of a write: [`Condition`] (of a put or delete) and [`Update`] (an update
//! expression and its condition), each with the placeholders they use.
//!
//! Attribute names are always written `#<name>`, and bound to `<name>` wherever they appear (so
//! reserved words need no care); `Update::set("expires_at", v)` writes
//! `#expires_at = :expires_at`, and a condition binds the values of its own placeholders
//! (`.value(":owner", …)`). A value placeholder is bound to one value only: binding it again to
//! another is a bug in the caller, caught by a debug assertion (every test build).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::attr::{n, Item};

/// The attribute every token write or status change of an authorizer moves on by one.
pub const TOKEN_VERSION: &str = "token_version";

/// What every conditional write carries besides its item or key: the condition, the placeholders
/// (of the condition and of an update expression), and the attributes it answers with.
#[derive(Debug, Default)]
struct Parts {
    condition: Option<String>,
    names: HashMap<String, String>,
    values: Item,
    returning: Option<ReturnValue>,
}

impl Parts {
    /// Binds every `#<name>` of `expression` to `<name>`.
    fn names_in(&mut self, expression: &str) {
        for (i, _) in expression.match_indices('#') {
            let name: String = expression[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            debug_assert!(!name.is_empty(), "# without a name in {expression}");
            self.names.insert(format!("#{name}"), name);
        }
    }

    fn condition(&mut self, expression: String) {
        debug_assert!(self.condition.is_none(), "one condition per write");
        self.names_in(&expression);
        self.condition = Some(expression);
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) {
        let old = self.values.insert(placeholder.to_owned(), value);
        debug_assert!(
            old.is_none_or(|old| old == self.values[placeholder]),
            "value bound twice: {placeholder}"
        );
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Item> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// `$request` (a put, update or delete builder: they have the same setters) with `$parts`.
macro_rules! with_parts {
    ($request:expr, $parts:expr) => {{
        let parts: &Parts = $parts;
        $request
            .set_condition_expression(parts.condition.clone())
            .set_expression_attribute_names(parts.names())
            .set_expression_attribute_values(parts.values())
            .set_return_values(parts.returning.clone())
    }};
}

/// The steps a [`Condition`] and an [`Update`] share.
macro_rules! binding_steps {
    ($($write:ty),*) => {$(
        impl $write {
            /// Binds the placeholder (`:owner`) of the condition to `value`.
            pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
                self.parts.value(placeholder, value);
                self
            }

            /// The attributes the write answers with (DynamoDB's ReturnValues).
            pub fn returning(mut self, returning: ReturnValue) -> Self {
                self.parts.returning = Some(returning);
                self
            }
        }
    )*};
}

binding_steps!(Condition, Update);

/// The condition of a put or delete.
#[derive(Debug)]
pub struct Condition {
    parts: Parts,
}

impl Condition {
    pub fn new(expression: impl Into<String>) -> Self {
        let mut parts = Parts::default();
        parts.condition(expression.into());
        Self { parts }
    }

    /// `attribute_not_exists(#<attribute>)`: on a key attribute, the item is absent.
    pub fn absent(attribute: &str) -> Self {
        Self::new(format!("attribute_not_exists(#{attribute})"))
    }

    pub(super) fn put(&self, request: PutItemFluentBuilder) -> PutItemFluentBuilder {
        with_parts!(request, &self.parts)
    }

    pub(super) fn delete(&self, request: DeleteItemFluentBuilder) -> DeleteItemFluentBuilder {
        with_parts!(request, &self.parts)
    }
}

/// An update expression (`SET …` then `REMOVE …`), its condition, and what it returns.
#[derive(Debug, Default)]
pub struct Update {
    sets: Vec<String>,
    removes: Vec<String>,
    parts: Parts,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    /// `SET #<attribute> = :<attribute>`.
    pub fn set(self, attribute: &str, value: AttributeValue) -> Self {
        self.set_expression(format!("#{attribute} = :{attribute}"))
            .value(&format!(":{attribute}"), value)
    }

    /// `SET #<attribute> = if_not_exists(#<attribute>, :<attribute>)`: written by the first
    /// update only.
    pub fn set_if_absent(self, attribute: &str, value: AttributeValue) -> Self {
        self.set_expression(format!(
            "#{attribute} = if_not_exists(#{attribute}, :{attribute})"
        ))
        .value(&format!(":{attribute}"), value)
    }

    /// `SET` for each attribute and value.
    pub fn set_all(
        self,
        attributes: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        attributes
            .into_iter()
            .fold(self, |update, (attribute, value)| {
                update.set(attribute, value)
            })
    }

    /// `SET` the value, or `REMOVE` the attribute when there is none.
    pub fn set_or_remove(self, attribute: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set(attribute, value),
            None => self.remove(attribute),
        }
    }

    /// `REMOVE #<attribute>`.
    pub fn remove(mut self, attribute: &str) -> Self {
        let name = format!("#{attribute}");
        self.parts.names_in(&name);
        self.removes.push(name);
        self
    }

    /// `REMOVE` each attribute.
    pub fn remove_all(self, attributes: &[&str]) -> Self {
        attributes.iter().fold(self, |update, a| update.remove(a))
    }

    /// `SET #<attribute> = if_not_exists(#<attribute>, 0) + delta`: a counter moved atomically.
    pub fn increment(self, attribute: &str, delta: i64) -> Self {
        self.set_expression(format!(
            "#{attribute} = if_not_exists(#{attribute}, :{attribute}_zero) + :{attribute}_delta"
        ))
        .value(&format!(":{attribute}_zero"), n(0))
        .value(&format!(":{attribute}_delta"), n(delta))
    }

    /// `token_version` one up, from 0 when the item has none.
    pub fn bump_version(self) -> Self {
        self.set_expression(format!(
            "#{TOKEN_VERSION} = if_not_exists(#{TOKEN_VERSION}, :version_zero) + :version_step"
        ))
        .value(":version_zero", n(0))
        .value(":version_step", n(1))
    }

    /// A `SET` action of its own (its values bound with [`Self::value`]).
    fn set_expression(mut self, action: String) -> Self {
        self.parts.names_in(&action);
        self.sets.push(action);
        self
    }

    /// The condition; its values are bound with [`Self::value`], or by a `set` of the same
    /// attribute (`#expires_at < :expires_at` compares with the value set).
    pub fn condition(mut self, expression: impl Into<String>) -> Self {
        self.parts.condition(expression.into());
        self
    }

    pub fn expression(&self) -> String {
        let mut clauses = Vec::new();
        if !self.sets.is_empty() {
            clauses.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            clauses.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        clauses.join(" ")
    }

    pub(super) fn apply(&self, request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        with_parts!(request.update_expression(self.expression()), &self.parts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::attr::s;
    use super::*;

    #[test]
    fn sets_then_removes_with_their_placeholders() {
        let update = Update::new()
            .set("token", s("t"))
            .bump_version()
            .remove_all(&["lease_owner", "lease_until"])
            .condition("lease_owner = :owner")
            .value(":owner", s("me"));
        assert_eq!(
            update.expression(),
            "SET #token = :token, #token_version = if_not_exists(#token_version, :version_zero) \
             + :version_step REMOVE #lease_owner, #lease_until"
        );
        let names = update.parts.names().unwrap();
        assert_eq!(names.len(), 4);
        assert_eq!(names["#lease_until"], "lease_until");
        let values = update.parts.values().unwrap();
        assert_eq!(values.len(), 4);
        assert_eq!(values[":owner"], s("me"));
        assert_eq!(values[":version_step"], n(1));
    }

    #[test]
    fn remove_only_and_set_or_remove() {
        let update = Update::new()
            .set_or_remove("status_detail", None)
            .set_or_remove("reason", Some(s("r")));
        assert_eq!(
            update.expression(),
            "SET #reason = :reason REMOVE #status_detail"
        );
        assert_eq!(Update::new().remove("a").expression(), "REMOVE #a");
        assert!(Update::new().remove("a").parts.values().is_none());
    }

    #[test]
    fn conditions_bind_their_names() {
        let condition =
            Condition::new("attribute_not_exists(#record) OR #purge_at < :now").value(":now", n(5));
        let names = condition.parts.names().unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(names["#record"], "record");
        assert_eq!(names["#purge_at"], "purge_at");
        let update = Update::new()
            .set("status", s("x"))
            .condition("#status <> :status AND attribute_exists(#authorizer_appid)");
        assert_eq!(update.parts.names().unwrap().len(), 2);
        assert_eq!(update.parts.values().unwrap().len(), 1);
    }

    #[test]
    #[should_panic(expected = "value bound twice")]
    fn a_placeholder_bound_to_two_values_is_a_bug() {
        let _ = Update::new().set("at", n(1)).value(":at", n(2));
    }
}
