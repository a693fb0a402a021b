//! The local stack's tables are the ones template.yaml defines: created in moto from the template
//! and described back, every key, index, billing mode, TTL and PITR setting must agree.

use std::collections::BTreeMap;

use devstack::{read_template, table_specs, template_path, Key};

#[test]
fn template_defines_the_tables_with_their_env_vars() {
    let specs = table_specs(&read_template(&template_path()).unwrap()).unwrap();
    let names: BTreeMap<&str, &str> = specs
        .iter()
        .map(|s| (s.logical_id.as_str(), s.env_var.as_str()))
        .collect();
    assert_eq!(
        names,
        BTreeMap::from([
            ("ActionsTable", "ACTIONS_TABLE"),
            ("AuditsTable", "AUDITS_TABLE"),
            ("AuthorizersTable", "AUTHORIZERS_TABLE"),
            ("OnboardingsTable", "ONBOARDINGS_TABLE"),
            ("EventsTable", "EVENTS_TABLE"),
            ("RolloutsTable", "ROLLOUTS_TABLE"),
            ("TicketsTable", "TICKETS_TABLE"),
            ("WebhookDeliveriesTable", "WEBHOOK_DELIVERIES_TABLE"),
            ("WebhooksTable", "WEBHOOKS_TABLE")
        ])
    );
    // A subscription's deliveries newest first, and one event's across subscriptions.
    let deliveries = specs
        .iter()
        .find(|s| s.logical_id == "WebhookDeliveriesTable")
        .unwrap();
    let indexes: Vec<(&str, Vec<&str>)> = deliveries
        .indexes
        .iter()
        .map(|i| {
            let keys = i.keys.iter().map(|k| k.attribute.as_str()).collect();
            (i.name.as_str(), keys)
        })
        .collect();
    assert_eq!(
        indexes,
        [
            ("recent", vec!["subscription", "queued_at"]),
            ("by_event", vec!["event_id", "subscription"])
        ]
    );
    assert_eq!(deliveries.ttl_attribute.as_deref(), Some("purge_at"));
    for spec in &specs {
        assert_eq!(spec.billing_mode, "PAY_PER_REQUEST", "{}", spec.logical_id);
        assert!(spec.point_in_time_recovery, "{}", spec.logical_id);
    }
    let authorizers = specs
        .iter()
        .find(|s| s.logical_id == "AuthorizersTable")
        .unwrap();
    assert_eq!(authorizers.indexes[0].name, "token_expiry");
    assert!(
        authorizers.indexes[0]
            .non_key_attributes
            .iter()
            .any(|a| a == "refresh_token"),
        "a scheduled refresh reads the index only"
    );
    let rollouts = specs
        .iter()
        .find(|s| s.logical_id == "RolloutsTable")
        .unwrap();
    let by_state = &rollouts.indexes[0];
    assert_eq!(
        (by_state.name.as_str(), by_state.projection.as_str()),
        ("by_state", "ALL")
    );
    let index_keys: Vec<(&str, &str)> = by_state
        .keys
        .iter()
        .map(|k| (k.attribute.as_str(), k.key_type.as_str()))
        .collect();
    assert_eq!(index_keys, [("state_key", "HASH"), ("appid", "RANGE")]);
}

#[test]
fn a_table_missing_its_env_var_is_an_error() {
    let template = read_template(&template_path())
        .unwrap()
        .replace("AUDITS_TABLE: !Ref AuditsTable", "");
    let err = table_specs(&template).unwrap_err();
    assert!(err.to_string().contains("AuditsTable"), "{err}");
}

fn keys(schema: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<Key> {
    schema
        .iter()
        .map(|k| Key {
            attribute: k.attribute_name().to_owned(),
            key_type: k.key_type().as_str().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn tables_created_locally_match_the_template() {
    let client = devstack::test_client().await;
    let prefix = devstack::unique_prefix("describe");
    let vars = devstack::create_tables(&client, &prefix).await.unwrap();
    let specs = table_specs(&read_template(&template_path()).unwrap()).unwrap();
    assert_eq!(vars.len(), specs.len());
    for spec in &specs {
        let name = spec.name_with(&prefix);
        assert!(vars.contains(&(spec.env_var.clone(), name.clone())));
        let table = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(keys(table.key_schema()), spec.keys, "{name} keys");
        let attributes: BTreeMap<String, String> = table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(attributes, spec.attributes, "{name} attributes");
        let billing = table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str().to_owned());
        assert_eq!(
            billing.as_deref(),
            Some(spec.billing_mode.as_str()),
            "{name} billing"
        );
        let indexes: Vec<(String, Vec<Key>, String, Vec<String>)> = table
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let projection = g.projection().unwrap();
                (
                    g.index_name().unwrap().to_owned(),
                    keys(g.key_schema()),
                    projection.projection_type().unwrap().as_str().to_owned(),
                    projection.non_key_attributes().to_vec(),
                )
            })
            .collect();
        let expected: Vec<(String, Vec<Key>, String, Vec<String>)> = spec
            .indexes
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    i.keys.clone(),
                    i.projection.clone(),
                    i.non_key_attributes.clone(),
                )
            })
            .collect();
        assert_eq!(indexes, expected, "{name} indexes");
        let (ttl, backups) = tokio::join!(
            client.describe_time_to_live().table_name(&name).send(),
            client
                .describe_continuous_backups()
                .table_name(&name)
                .send()
        );
        let (ttl, backups) = (ttl.unwrap(), backups.unwrap());
        let ttl = ttl.time_to_live_description().unwrap();
        match &spec.ttl_attribute {
            Some(attribute) => {
                assert_eq!(ttl.attribute_name(), Some(attribute.as_str()), "{name} ttl");
                assert_eq!(
                    ttl.time_to_live_status().map(|s| s.as_str()),
                    Some("ENABLED"),
                    "{name} ttl"
                );
            }
            None => assert_ne!(
                ttl.time_to_live_status().map(|s| s.as_str()),
                Some("ENABLED"),
                "{name} ttl"
            ),
        }
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned());
        assert_eq!(pitr.as_deref(), Some("ENABLED"), "{name} pitr");
    }
    // Creating again is harmless (make dev restarts against a running moto).
    devstack::create_tables(&client, &prefix).await.unwrap();
}
