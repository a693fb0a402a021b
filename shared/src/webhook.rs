//! Webhooks: the platform's events (`crate::events`) delivered to services outside AWS.
//!
//! A subscription is one EventBridge rule on the bus ([`event_pattern`]) whose target is the
//! webhook queue, with an input transformer that wraps the event's `detail` with the
//! subscription's id ([`input_template`]): the queue's message is a [`WebhookMessage`]. The
//! delivery function POSTs the detail as JSON, signed with the subscription's secret
//! ([`signature_header`]: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
//!
//! A webhook URL is https, and its host resolves to public addresses only ([`check_url`]);
//! plain http is allowed to loopback hosts only when [`TargetPolicy::allow_loopback`] is set
//! (`WEBHOOK_ALLOW_LOOPBACK`, which only `make dev` and the tests set). The check is made at
//! creation and again at each delivery, where the HTTP client resolves names through
//! [`GuardedResolver`] (the addresses it connects to are the ones checked: no DNS rebinding
//! between check and connect).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::events::{KindPattern, PlatformEvent, EVENT_SOURCE};

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// The event's id: the same across redeliveries, for the receiver to deduplicate on.
pub const EVENT_ID_HEADER: &str = "x-webhook-id";
/// The event's kind.
pub const KIND_HEADER: &str = "x-webhook-event";
/// The subscription's id.
pub const SUBSCRIPTION_HEADER: &str = "x-webhook-subscription";
/// The kind of the event `POST /admin/webhooks/{id}/test` sends (never published on the bus).
pub const TEST_KIND: &str = "webhook.test";
/// The id of the rule's one target (the webhook queue).
pub const TARGET_ID: &str = "webhook-queue";

/// One message of the webhook queue: the event for one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub subscription: String,
    pub detail: PlatformEvent,
}

/// A subscription's id: the same for the same url, events and appids (a create sent again makes
/// no second subscription), `wh_` and 16 hex digits.
pub fn subscription_id(url: &str, events: &[String], appids: &[String]) -> String {
    let mut digest = Sha256::new();
    for part in std::iter::once(url)
        .chain(events.iter().map(String::as_str))
        .chain(std::iter::once("|"))
        .chain(appids.iter().map(String::as_str))
    {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("wh_{hex}")
}

/// True for an id [`subscription_id`] makes.
pub fn is_subscription_id(id: &str) -> bool {
    id.len() == 19 && id.starts_with("wh_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The name of the rule of subscription `id` (rules are per bus: the bus is the stack's).
pub fn rule_name(id: &str) -> String {
    format!("webhook-{id}")
}

/// A new signing secret: `whsec_` and 32 random bytes, base64url. The receiver uses the whole
/// string (its UTF-8 bytes) as the HMAC key.
pub fn new_secret() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes))
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` signs `body` with `secret`, at most `tolerance_secs` from `now` (what a
/// receiver checks; the local receiver and the tests use it).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tags.push(v),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    tags.iter().any(|tag| {
        let Some(bytes) = hex_bytes(tag) else {
            return false;
        };
        mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
    })
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The EventBridge pattern of a subscription: the platform's source, the kinds (omitted for
/// `*`), and the appids when it names some.
pub fn event_pattern(patterns: &[KindPattern], appids: &[String]) -> Value {
    let mut pattern = json!({ "source": [EVENT_SOURCE] });
    if !patterns.contains(&KindPattern::All) {
        let kinds: Vec<Value> = patterns
            .iter()
            .map(|p| match p {
                KindPattern::Prefix(prefix) => json!({ "prefix": prefix }),
                KindPattern::Exact(kind) => json!(kind),
                KindPattern::All => unreachable!("handled above"),
            })
            .collect();
        pattern["detail-type"] = json!(kinds);
    }
    if !appids.is_empty() {
        pattern["detail"] = json!({ "appid": appids });
    }
    pattern
}

/// The input transformer's paths: the event's detail.
pub const INPUT_PATH_DETAIL: (&str, &str) = ("detail", "$.detail");

/// The input transformer's template: a [`WebhookMessage`] for subscription `id` (its detail
/// substituted as JSON, unquoted).
pub fn input_template(id: &str) -> String {
    format!(r#"{{"subscription": "{id}", "detail": <detail>}}"#)
}

/// What webhook URLs may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback hosts (http or https) allowed: `make dev` and the tests only.
    pub allow_loopback: bool,
}

impl TargetPolicy {
    /// `WEBHOOK_ALLOW_LOOPBACK=true`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            allow_loopback: get("WEBHOOK_ALLOW_LOOPBACK").as_deref() == Some("true"),
        }
    }

    /// The refusal of `ip`, if it is in a range webhooks never reach.
    fn refusal(&self, ip: IpAddr) -> Option<TargetError> {
        match forbidden_range(ip) {
            Some("loopback") if self.allow_loopback => None,
            Some(range) => Some(TargetError::Forbidden { ip, range }),
            None => None,
        }
    }
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("not an absolute URL")]
    NotUrl,
    #[error("must be https (plain http only to a loopback host under make dev)")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not carry a fragment")]
    Fragment,
    #[error("host {0} does not resolve")]
    Unresolvable(String),
    #[error("host resolves to {ip}, a {range} address")]
    Forbidden { ip: IpAddr, range: &'static str },
}

/// The range of `ip` that webhooks never reach, if any: private, loopback, link-local
/// (169.254.0.0/16 holds the instance metadata service 169.254.169.254), CGNAT, the metadata
/// addresses of IPv6 (fd00:ec2::254, in the unique-local range), and every address that is not a
/// public unicast one.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some("metadata")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if first == 0x0064 && v6.segments()[1] == 0xff9b {
                // NAT64 (64:ff9b::/96) reaches IPv4 addresses: judged as the one it embeds.
                let [.., a, b] = v6.segments();
                forbidden_v4(Ipv4Addr::new(
                    (a >> 8) as u8,
                    a as u8,
                    (b >> 8) as u8,
                    b as u8,
                ))
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(169, 254, 170, 2) {
        // The EC2 instance metadata service; the ECS task metadata endpoint.
        Some("metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("CGNAT")
    } else if a == 0 || ip.is_broadcast() || a >= 224 {
        Some("reserved")
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (18..20).contains(&b)) {
        // IETF protocol assignments; benchmarking.
        Some("reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

/// Checks a webhook URL as [`TargetPolicy`] allows: scheme, no credentials, and every address
/// its host resolves to. The URL, parsed.
pub async fn check_url(text: &str, policy: TargetPolicy) -> Result<url::Url, TargetError> {
    let url = url::Url::parse(text).map_err(|_| TargetError::NotUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(TargetError::Fragment);
    }
    let https = match url.scheme() {
        "https" => true,
        "http" if policy.allow_loopback => false,
        _ => return Err(TargetError::NotHttps),
    };
    let host = url.host().ok_or(TargetError::NotUrl)?;
    let port = url.port_or_known_default().ok_or(TargetError::NotUrl)?;
    let addresses: Vec<IpAddr> = match host {
        url::Host::Ipv4(v4) => vec![IpAddr::V4(v4)],
        url::Host::Ipv6(v6) => vec![IpAddr::V6(v6)],
        url::Host::Domain(name) => resolve(name, port).await?,
    };
    for ip in &addresses {
        if let Some(refusal) = policy.refusal(*ip) {
            return Err(refusal);
        }
        if !https && !ip.is_loopback() {
            return Err(TargetError::NotHttps);
        }
    }
    Ok(url)
}

async fn resolve(name: &str, port: u16) -> Result<Vec<IpAddr>, TargetError> {
    let found = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| TargetError::Unresolvable(name.to_owned()))?;
    let addresses: Vec<IpAddr> = found.map(|a| a.ip()).collect();
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable(name.to_owned()));
    }
    Ok(addresses)
}

/// The HTTP client's resolver for deliveries: a name resolving to any address the policy refuses
/// is not connected to at all; otherwise the client connects to exactly the addresses checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver(pub TargetPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve(&name, 0).await?;
            if let Some(refusal) = addresses.iter().find_map(|ip| policy.refusal(*ip)) {
                return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// The delivery's HTTP client: redirects never followed, no proxy (a proxy would resolve the
/// name itself, past the guard), names resolved through [`GuardedResolver`].
pub fn delivery_client(
    policy: TargetPolicy,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent("wechat-component-webhooks/1")
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_secret_only() {
        let secret = new_secret();
        let body = br#"{"id":"e1"}"#;
        let header = signature_header(&secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_signature(&secret, &header, body, 1_700_000_100, 300));
        assert!(!verify_signature(
            &secret,
            &header,
            body,
            1_700_000_400,
            300
        ));
        assert!(!verify_signature(
            &new_secret(),
            &header,
            body,
            1_700_000_000,
            300
        ));
        assert!(!verify_signature(
            &secret,
            &header,
            b"{}",
            1_700_000_000,
            300
        ));
        assert!(!verify_signature(
            &secret,
            "v1=00",
            body,
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn ranges_webhooks_never_reach() {
        let range = |ip: &str| forbidden_range(ip.parse().unwrap());
        assert_eq!(range("10.1.2.3"), Some("private"));
        assert_eq!(range("172.16.0.1"), Some("private"));
        assert_eq!(range("192.168.1.1"), Some("private"));
        assert_eq!(range("127.0.0.1"), Some("loopback"));
        assert_eq!(range("169.254.169.254"), Some("metadata"));
        assert_eq!(range("169.254.1.1"), Some("link-local"));
        assert_eq!(range("100.64.0.1"), Some("CGNAT"));
        assert_eq!(range("0.0.0.0"), Some("reserved"));
        assert_eq!(range("::1"), Some("loopback"));
        assert_eq!(range("fd00:ec2::254"), Some("metadata"));
        assert_eq!(range("fe80::1"), Some("link-local"));
        assert_eq!(range("::ffff:10.0.0.1"), Some("private"));
        assert_eq!(range("64:ff9b::a9fe:a9fe"), Some("metadata"));
        assert_eq!(range("93.184.216.34"), None);
        assert_eq!(range("2606:4700::1111"), None);
    }

    #[tokio::test]
    async fn urls_are_https_to_public_hosts() {
        let strict = TargetPolicy::default();
        let dev = TargetPolicy {
            allow_loopback: true,
        };
        assert_eq!(
            check_url("http://93.184.216.34/hook", strict).await,
            Err(TargetError::NotHttps)
        );
        assert_eq!(
            check_url("http://93.184.216.34/hook", dev).await,
            Err(TargetError::NotHttps)
        );
        assert!(check_url("https://93.184.216.34/hook", strict)
            .await
            .is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", dev).await.is_ok());
        assert!(matches!(
            check_url("https://127.0.0.1/hook", strict).await,
            Err(TargetError::Forbidden {
                range: "loopback",
                ..
            })
        ));
        assert!(matches!(
            check_url("https://[fd00:ec2::254]/", dev).await,
            Err(TargetError::Forbidden {
                range: "metadata",
                ..
            })
        ));
        assert_eq!(
            check_url("https://u:p@93.184.216.34/", strict).await,
            Err(TargetError::Credentials)
        );
        assert_eq!(
            check_url("ftp://93.184.216.34/", strict).await,
            Err(TargetError::NotHttps)
        );
        assert_eq!(check_url("hook", strict).await, Err(TargetError::NotUrl));
    }

    #[test]
    fn patterns_become_eventbridge_patterns() {
        let kinds = [
            KindPattern::parse("message.*").unwrap(),
            KindPattern::parse("event.subscribe_msg_popup_event").unwrap(),
        ];
        assert_eq!(
            event_pattern(&kinds, &["wx1".into()]),
            json!({
                "source": ["wechat-component"],
                "detail-type": [{"prefix": "message."}, "event.subscribe_msg_popup_event"],
                "detail": {"appid": ["wx1"]},
            })
        );
        assert_eq!(
            event_pattern(&[KindPattern::All], &[]),
            json!({ "source": ["wechat-component"] })
        );
        let id = subscription_id("https://a/", &["*".into()], &[]);
        assert!(is_subscription_id(&id), "{id}");
        assert_ne!(
            id,
            subscription_id("https://a/", &["*".into()], &["wx1".into()])
        );
        let message = input_template(&id).replace(
            "<detail>",
            r#"{"id":"e","kind":"message.text","appid":null,"create_time":1,"fields":{}}"#,
        );
        let message: WebhookMessage = serde_json::from_str(&message).unwrap();
        assert_eq!(message.subscription, id);
    }
}
