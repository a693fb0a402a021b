//! A test's world: the simulator of [`crate::sim`] and, next to it, the platform as the
//! functions build it (fresh moto tables, WeChat at the simulator), with the ticket stored and
//! the mini programs authorized when the [`Setup`] asks for it.
//!
//! ```text
//! let w = Setup::new(&COMPONENT).mini_program(mini_program(MP)).authorized().start("test").await;
//! assert_eq!(w.ctl.calls("api_query_auth").await, 1);
//! ```

use std::collections::HashMap;
use std::ops::Deref;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::ExposeSecret;
use shared::authorizer::Authorizer;
use shared::platform::Platform;
use shared::store::AuthorizerStore;

use crate::event_source::{create_queue, unique_queue_name, LocalQueue};
use crate::sim::{Authorize, Setup, Simulator};

/// The simulator and the platform of one test.
pub struct World {
    pub sim: Simulator,
    /// Its `rollout_queue_url` is [`World::queue`]'s.
    pub platform: Platform,
    /// The test's own step queue and dead-letter queue ([`Setup::queue`]'s options).
    pub queue: LocalQueue,
}

impl Deref for World {
    type Target = Simulator;

    fn deref(&self) -> &Simulator {
        &self.sim
    }
}

impl Setup {
    /// The simulator, fresh tables for `test` and the platform, then the ticket and the
    /// authorizations the setup asked for.
    pub async fn start(mut self, test: &str) -> World {
        let authorize = std::mem::replace(&mut self.authorize, Authorize::Nothing);
        let (config, timeout, queue) = (self.component.config(), self.wechat_timeout, self.queue);
        let sim = self.start_sim().await;
        let mut platform = crate::test_platform(test, config, &sim.base_url()).await;
        platform.wechat = crate::wechat_client(&sim.base_url(), timeout);
        let queue = create_queue(&platform.sqs, &unique_queue_name(test), queue)
            .await
            .unwrap_or_else(|e| panic!("creating the queues of {test}: {e}"));
        platform.rollout_queue_url = Some(queue.url.clone());
        let world = World {
            sim,
            platform,
            queue,
        };
        if authorize >= Authorize::Ticket {
            world.store_ticket().await;
        }
        if authorize == Authorize::Everyone {
            let mini_programs = world.running.sim.state().config.mini_programs.clone();
            for mp in mini_programs {
                world.authorize(&mp.appid, &mp.permission_sets).await;
            }
        }
        world
    }
}

impl World {
    /// `handler` (ticket-receive's, as a test wraps it) served over HTTP, and the simulator
    /// pushing to it on both URLs: pushes arrive as on AWS. Stops when the answer is dropped.
    pub async fn serve_push_urls<F, Fut>(&self, handler: F) -> crate::apigw::Served
    where
        F: Fn(crate::apigw::Call) -> Fut + Clone + Send + Sync + 'static,
        Fut:
            std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'static,
    {
        let served = crate::apigw::serve(handler).await;
        self.push_to(
            &served.url("/wechat/component/notify"),
            &served.url("/wechat/authorizer/$APPID$/notify"),
        );
        served
    }

    /// The simulator pushes a ticket; it is stored as ticket-receive would store it.
    pub async fn store_ticket(&self) {
        crate::owner::store_ticket(&self.platform, self.push_ticket()).await;
    }

    /// A pre_auth_code from the platform, the owner's confirmation of `appid` with `sets` on the
    /// simulator's page, and the platform's exchange.
    pub async fn authorize(&self, appid: &str, sets: &[i64]) {
        crate::owner::authorize(&self.platform, &self.base_url(), appid, sets).await;
    }

    /// The stored authorizer `appid`, if any.
    pub async fn stored(&self, appid: &str) -> Option<Authorizer> {
        self.platform
            .authorizer_store()
            .authorizer(appid)
            .await
            .expect("the authorizers table answers")
    }

    /// The stored authorizer `appid`; panics if there is none.
    pub async fn authorizer(&self, appid: &str) -> Authorizer {
        let stored = self.stored(appid).await;
        stored.unwrap_or_else(|| panic!("{appid} is not stored"))
    }

    /// The stored refresh token of `appid`, if any.
    pub async fn stored_refresh_token(&self, appid: &str) -> Option<String> {
        let stored = self.stored(appid).await?;
        stored.refresh_token.map(|t| t.expose_secret().to_owned())
    }

    /// WeChat's errcode for a /wxa call made with the stored access token of `appid` (0: WeChat
    /// accepts it).
    pub async fn errcode_with_stored_token(&self, appid: &str) -> i64 {
        let token = self.authorizer(appid).await.access_token.expect("a token");
        let path = format!("/wxa/get_category?access_token={}", token.expose_secret());
        self.get(&path).await["errcode"].as_i64().expect("errcode")
    }

    /// An update of the authorizer item `appid`, the expression set; the test adds its values.
    pub fn update_authorizer(&self, appid: &str, expression: &str) -> UpdateItemFluentBuilder {
        let (dynamo, table) = self.authorizers();
        let update = dynamo.update_item().table_name(table);
        update
            .set_key(Some(key(appid)))
            .update_expression(expression)
    }

    /// Moves the stored access-token expiry of `appid` to `at` (Unix seconds), WeChat's token
    /// unchanged: a token due for refresh without waiting for it.
    pub async fn set_token_expiry(&self, appid: &str, at: i64) {
        self.update_authorizer(appid, "SET access_token_expires_at = :at")
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .send()
            .await
            .expect("the authorizers table answers");
    }

    /// Deletes the authorizer item `appid`, as if it were lost.
    pub async fn delete_authorizer(&self, appid: &str) {
        let (dynamo, table) = self.authorizers();
        let delete = dynamo
            .delete_item()
            .table_name(table)
            .set_key(Some(key(appid)));
        delete.send().await.expect("deleted");
    }

    /// The authorizer item `appid` as stored; panics if there is none.
    pub async fn authorizer_item(&self, appid: &str) -> HashMap<String, AttributeValue> {
        let (dynamo, table) = self.authorizers();
        let get = dynamo
            .get_item()
            .table_name(table)
            .set_key(Some(key(appid)));
        let output = get.send().await.expect("the authorizers table answers");
        output.item.unwrap_or_else(|| panic!("no item {appid}"))
    }

    /// The DynamoDB client and the authorizers table.
    fn authorizers(&self) -> (&aws_sdk_dynamodb::Client, &str) {
        (&self.platform.dynamo, &self.platform.tables.authorizers)
    }
}

/// The key of the authorizer item `appid`.
fn key(appid: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(
        "authorizer_appid".to_owned(),
        AttributeValue::S(appid.into()),
    )])
}

/// `Deref<Target = World>` for a test's own struct that holds its world in a field `world`.
#[macro_export]
macro_rules! deref_world {
    ($name:ty) => {
        impl std::ops::Deref for $name {
            type Target = $crate::world::World;

            fn deref(&self) -> &$crate::world::World {
                &self.world
            }
        }
    };
}
