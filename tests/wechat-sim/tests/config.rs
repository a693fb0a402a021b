//! The simulator's configuration file and its environment overrides.

use std::path::Path;

use wechat_sim::config::{ReviewScript, SimConfig};

fn demo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.toml"))
}

#[test]
fn the_demo_configuration_loads_and_matches_the_demo_component() {
    let config = SimConfig::load(demo(), |_| None).unwrap();
    assert_eq!(config.mini_programs.len(), 3);
    assert_eq!(config.push.ticket_interval_secs, 20);
    assert!(matches!(
        config.mini_programs[1].review,
        ReviewScript::Reject { after_secs: 8, .. }
    ));
    assert!(!config.mini_programs[2].permission_sets.contains(&18));
    // privacy_keys, privacy_apis and required_private_infos sit on the template entry.
    let location = config.privacy.of_template(2);
    assert_eq!(
        (
            location.privacy_keys,
            location.privacy_apis,
            location.required_private_infos
        ),
        (
            vec!["Location".to_owned()],
            vec!["wx.getLocation".to_owned()],
            vec!["getLocation".to_owned()]
        )
    );
    assert!(config.privacy.of_template(1).is_empty());
    assert_eq!(config.templates.len(), 2);
    // The same component as scripts/demo-component.env, which the functions use in make dev.
    let env = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo-component.env"),
    )
    .unwrap();
    for (name, value) in [
        ("COMPONENT_APPID", &config.component.appid),
        ("COMPONENT_APPSECRET", &config.component.appsecret),
        ("COMPONENT_TOKEN", &config.component.token),
        (
            "COMPONENT_ENCODING_AES_KEY",
            &config.component.encoding_aes_key,
        ),
    ] {
        assert!(
            env.lines().any(|l| l == format!("{name}={value}")),
            "{name} differs from demo-component.env"
        );
    }
}

#[test]
fn environment_overrides_the_file() {
    let config = SimConfig::load(demo(), |name| match name {
        "COMPONENT_APPID" => Some("wxmine".into()),
        "SIM_AUTHORIZATION_EVENT_URL" => Some("http://127.0.0.1:1/notify".into()),
        "SIM_TICKET_INTERVAL_SECS" => Some("3".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.component.appid, "wxmine");
    assert_eq!(
        config.push.authorization_event_url.as_deref(),
        Some("http://127.0.0.1:1/notify")
    );
    assert_eq!(config.push.ticket_interval_secs, 3);
}

#[test]
fn a_bad_key_or_file_is_a_clear_error() {
    let err = SimConfig::load(demo(), |name| {
        (name == "COMPONENT_ENCODING_AES_KEY").then(|| "short".into())
    })
    .unwrap_err();
    assert!(err.to_string().contains("encoding_aes_key"), "{err}");
    let err = SimConfig::load(Path::new("/nonexistent.toml"), |_| None).unwrap_err();
    assert!(err.to_string().contains("/nonexistent.toml"), "{err}");
}
