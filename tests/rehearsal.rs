//! The init-phase rehearsal (src/http/rehearsal.rs) runs a request of each dialect through the
//! real adapter, handler and store, against DynamoDB Local, and writes nothing.

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::http::rehearsal::rehearse;
use person_patch::store::sdk::SdkSettings;
use support::*;

async fn everything(env: &TestEnv) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = env
        .client
        .scan()
        .table_name(&env.persons_table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan the persons table")
        .items
        .unwrap_or_default();
    items.sort_by_key(|item| format!("{:?}{:?}", item.get("pk"), item.get("sk")));
    items
}

#[tokio::test]
async fn the_rehearsal_reaches_the_update_in_both_dialects_and_writes_nothing() {
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    let before = everything(&env).await;
    rehearse(&env.app).await;
    // Each request went all the way to its conditional update, which failed.
    assert_eq!(proxy.seen("UpdateItem:person"), 2);
    assert_eq!(everything(&env).await, before);
    // The app's own callers are unaffected: the demo request still succeeds.
    let reply = env.send(&Event::v1(Shape::HttpApi)).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
}
