//! WeChat's own record of who authorized the platform ("拉取所有已授权的帐号信息", api_get_authorizer_list):
//! the authority on an authorizer's current refresh token, used to recover one we lost or that
//! WeChat rotated behind our back (reconcile, 61023, a refused save of a rotated token).

use std::collections::HashMap;
use std::ops::ControlFlow;

use crate::component::{ComponentError, ComponentService};
use crate::store::ComponentRecords;
use crate::wechat::component::GetAuthorizerList;

/// WeChat answers at most 500 per page.
const PAGE: u64 = 500;

pub use crate::wechat::component::ListedAuthorizer;

impl<S: ComponentRecords> ComponentService<S> {
    /// Pages through the list until `visit` breaks or the list ends.
    async fn visit_authorizer_list<B>(
        &self,
        mut visit: impl FnMut(ListedAuthorizer) -> ControlFlow<B>,
    ) -> Result<Option<B>, ComponentError> {
        let mut offset = 0u64;
        loop {
            let page = self
                .call(&GetAuthorizerList {
                    component_appid: self.appid(),
                    offset,
                    count: PAGE,
                })
                .await?;
            let count = page.list.len() as u64;
            for entry in page.list {
                if let ControlFlow::Break(found) = visit(entry) {
                    return Ok(Some(found));
                }
            }
            offset += count;
            if count == 0 || offset >= page.total_count {
                return Ok(None);
            }
        }
    }

    /// Every authorizer WeChat lists, by appid (reconcile).
    pub async fn authorizer_list(
        &self,
    ) -> Result<HashMap<String, ListedAuthorizer>, ComponentError> {
        let mut listed = HashMap::new();
        self.visit_authorizer_list(|entry| {
            listed.insert(entry.authorizer_appid.clone(), entry);
            ControlFlow::<()>::Continue(())
        })
        .await?;
        Ok(listed)
    }

    /// WeChat's entry for one authorizer (None: not listed, i.e. not authorized). Pages until it
    /// is found: up to ⌈authorizers / 500⌉ calls, made only when a refresh token was refused or
    /// two rotated ones compete.
    pub async fn listed_authorizer(
        &self,
        appid: &str,
    ) -> Result<Option<ListedAuthorizer>, ComponentError> {
        self.visit_authorizer_list(|entry| {
            if entry.authorizer_appid == appid {
                ControlFlow::Break(entry)
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
    }
}
