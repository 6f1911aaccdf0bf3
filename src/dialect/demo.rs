//! The demo tenant and its persons: the examples openapi.yaml shows, and the data the admin
//! tool seeds for `make run` and the tests (docs/API.md §8).

use crate::table::CustomerId;

/// The demo customer.
pub const DEMO_CUSTOMER: CustomerId = CustomerId(14532);
/// The demo Contacts v1 person.
pub const DEMO_V1_PERSON: &str = "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c";
/// The demo Persons v2 person.
pub const DEMO_V2_PERSON: i32 = 16;
