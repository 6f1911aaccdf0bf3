//! Who is calling, and which customers they may act for.
//!
//! Until authentication lands (its own issue), the function runs in an explicit development
//! mode that grants every request a principal allowed all customers: it is NOT safe to deploy.

use crate::store::CustomerId;

/// The scope both routes require.
pub const WRITE_SCOPE: &str = "contacts:persons:write";

/// The customers a principal may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Customers {
    /// Development mode only: every customer.
    Any,
    /// Exactly these customers.
    Only(Vec<CustomerId>),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API client id (or token `client_id` / `sub`); safe to log.
    pub id: String,
    pub scopes: Vec<String>,
    pub customers: Customers,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn may_act_for(&self, customer: CustomerId) -> bool {
        match &self.customers {
            Customers::Any => true,
            Customers::Only(list) => list.contains(&customer),
        }
    }

    /// The principal's customer when it has exactly one.
    pub fn only_customer(&self) -> Option<CustomerId> {
        match &self.customers {
            Customers::Only(list) if list.len() == 1 => list.first().copied(),
            _ => None,
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// Development mode: every request is a principal with the write scope and every customer.
    Open,
}

impl Authenticator {
    pub async fn authenticate(
        &self,
        _headers: &lambda_http::http::HeaderMap,
    ) -> Result<Principal, crate::problem::ApiError> {
        match self {
            Authenticator::Open => Ok(Principal {
                id: "development".into(),
                scopes: vec![WRITE_SCOPE.into()],
                customers: Customers::Any,
            }),
        }
    }
}
