//! The common crate of the platform's Lambda functions.
//!
//! * [`crypto`]: WeChat message crypto (signatures, AES-256-CBC, envelopes, key rotation);
//! * [`xml`] and [`push`]: safe parsing of WeChat's XML pushes into typed values;
//! * [`config`]: component settings and table names, read once per cold start;
//! * [`store`]: the DynamoDB tables behind small traits;
//! * [`wechat`]: the typed WeChat API client; [`component`]: the component token service.

pub mod audit;
pub mod auth_state;
pub mod authorization;
pub mod authorizer;
pub mod authorizer_list;
pub mod authorizer_token;
pub mod code_release;
pub mod component;
pub mod config;
pub mod crypto;
pub mod events;
pub mod go_live;
pub mod onboarding;
pub mod platform;
pub mod push;
pub mod queue;
pub mod registration;
pub mod retry;
pub mod review_readiness;
pub mod rollout;
pub mod store;
pub mod stream;
pub mod web;
pub mod webhook;
pub mod wechat;
pub mod xml;
