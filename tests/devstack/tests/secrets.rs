//! Component settings read from Secrets Manager (moto's, started by `make test`).

use aws_sdk_secretsmanager::Client;
use secrecy::ExposeSecret;
use shared::config::{ComponentConfig, ConfigError};

async fn client() -> Client {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_some(),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the tests with `make test`, which starts moto"
    );
    Client::new(&devstack::local_sdk_config().await)
}

async fn create(client: &Client, name: &str, value: &str) -> String {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn reads_the_component_secret_once_by_arn_or_name() {
    let client = client().await;
    let name = devstack::unique_prefix("component-secret");
    let json = r#"{"COMPONENT_APPID":"wx0c0ffee0c0ffee00","COMPONENT_APPSECRET":"app-secret-1","COMPONENT_TOKEN":"pUbLiCt0ken","COMPONENT_ENCODING_AES_KEY":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","COMPONENT_PREVIOUS_ENCODING_AES_KEY":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    let arn = create(&client, &name, json).await;
    for id in [arn.as_str(), name.as_str()] {
        let config = ComponentConfig::from_secrets_manager(&client, id)
            .await
            .unwrap();
        assert_eq!(config.appid, "wx0c0ffee0c0ffee00");
        assert_eq!(config.appsecret.expose_secret(), "app-secret-1");
        assert!(config.previous_encoding_aes_key.is_some());
        let crypto = config.message_crypto().unwrap();
        assert_eq!(crypto.appid(), "wx0c0ffee0c0ffee00");
    }
}

#[tokio::test]
async fn a_missing_or_invalid_secret_is_a_clear_configuration_error() {
    let client = client().await;
    let err = ComponentConfig::from_secrets_manager(&client, "does-not-exist")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Secret { secret_id, .. } if secret_id == "does-not-exist"),
        "{err}"
    );

    let name = devstack::unique_prefix("bad-key");
    let json = r#"{"COMPONENT_APPID":"wx1","COMPONENT_APPSECRET":"very-secret","COMPONENT_TOKEN":"t","COMPONENT_ENCODING_AES_KEY":"tooShortKey"}"#;
    create(&client, &name, json).await;
    let err = ComponentConfig::from_secrets_manager(&client, &name)
        .await
        .unwrap_err();
    let ConfigError::InvalidKey { name: key, .. } = &err else {
        panic!("not an invalid key: {err}")
    };
    assert_eq!(*key, "COMPONENT_ENCODING_AES_KEY", "{err}");
    assert!(!err.to_string().contains("tooShortKey") && !err.to_string().contains("very-secret"));
}
