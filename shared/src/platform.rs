//! Everything a function builds once per cold start: configuration, the DynamoDB and SQS
//! clients, the WeChat client, and the services over them.

use std::time::Duration;

use crate::auth_state::StateSigner;
use crate::authorization::AuthorizationService;
use crate::component::ComponentService;
use crate::config::{aws_sdk_config, ComponentConfig, ConfigError, TableNames};
use crate::queue::SqsQueue;
use crate::store::{DynamoAuthorizerStore, DynamoEventStore, DynamoTicketStore};
use crate::wechat::{WechatClient, WechatEndpoints};

/// The per-call timeout of WeChat requests (`WECHAT_TIMEOUT_MS`, default 5000).
fn wechat_timeout(get: &impl Fn(&str) -> Option<String>) -> Duration {
    Duration::from_millis(
        get("WECHAT_TIMEOUT_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(5000),
    )
}

/// The onboarding service over the platform's tables.
pub type PlatformOnboardings = crate::onboarding::OnboardingService<
    DynamoTicketStore,
    DynamoAuthorizerStore,
    crate::store::DynamoActionLog,
>;

#[derive(Clone)]
pub struct Platform {
    pub config: ComponentConfig,
    pub tables: TableNames,
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Shares the one HTTP client of [`aws_sdk_config`]: constructing it costs no TLS set-up.
    pub sqs: aws_sdk_sqs::Client,
    /// The rollouts' step queue (`ROLLOUT_QUEUE_URL`); unset in the functions that need none.
    pub rollout_queue_url: Option<String>,
    pub wechat: WechatClient,
}

impl Platform {
    /// From the process environment (and Secrets Manager when `COMPONENT_SECRET_ID` is set).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = aws_sdk_config().await;
        let config = ComponentConfig::load(&sdk).await?;
        let get = |name: &str| std::env::var(name).ok();
        let wechat = WechatClient::new(WechatEndpoints::from_lookup(get), wechat_timeout(&get))
            .map_err(|e| ConfigError::Invalid {
                name: "WECHAT_API_BASE",
                reason: e.to_string(),
            })?;
        Ok(Self {
            config,
            tables: TableNames::from_env()?,
            dynamo: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            rollout_queue_url: get("ROLLOUT_QUEUE_URL").filter(|url| !url.is_empty()),
            wechat,
        })
    }

    /// The rollouts' step queue, when `ROLLOUT_QUEUE_URL` is set.
    pub fn rollout_queue(&self) -> Option<SqsQueue> {
        let url = self.rollout_queue_url.as_ref()?;
        Some(SqsQueue::new(self.sqs.clone(), url))
    }

    pub fn ticket_store(&self) -> DynamoTicketStore {
        DynamoTicketStore::new(self.dynamo.clone(), &self.tables.tickets)
    }

    /// The events table: every push and state change, published from its stream.
    pub fn event_store(&self) -> DynamoEventStore {
        DynamoEventStore::new(self.dynamo.clone(), &self.tables.events)
    }

    pub fn authorizer_store(&self) -> DynamoAuthorizerStore {
        DynamoAuthorizerStore::new(self.dynamo.clone(), &self.tables.authorizers)
    }

    pub fn component_service(&self) -> ComponentService<DynamoTicketStore> {
        ComponentService::new(
            self.config.clone(),
            self.wechat.clone(),
            self.ticket_store(),
        )
    }

    /// Issues and checks the `state` of authorization links (auth-start, auth-callback).
    pub fn state_signer(&self) -> StateSigner {
        StateSigner::new(&self.config.appid, &self.config.appsecret)
    }

    pub fn authorization_service(
        &self,
    ) -> AuthorizationService<DynamoTicketStore, DynamoAuthorizerStore> {
        AuthorizationService::new(self.component_service(), self.authorizer_store())
            .with_events(self.event_store())
    }

    pub fn onboarding_store(&self) -> crate::store::onboardings::DynamoOnboardingStore {
        crate::store::onboardings::DynamoOnboardingStore::new(
            self.dynamo.clone(),
            &self.tables.onboardings,
        )
    }

    /// The onboardings of new mini programs (named, categorized, filed), their calls in the
    /// action log.
    pub fn onboardings(&self) -> PlatformOnboardings {
        crate::onboarding::OnboardingService::new(
            self.authorization_service(),
            self.onboarding_store(),
            crate::store::DynamoActionLog::new(self.dynamo.clone(), &self.tables.actions),
        )
    }
}
