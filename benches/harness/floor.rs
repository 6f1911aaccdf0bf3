//! The floor every PATCH benchmark is measured against: the `UpdateItem` the function would
//! send, sent directly with the SDK, outside the handler. Shared by the benchmarks
//! (`harness`) and the `direct_update` example process of `make bench-cold`.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use person_patch::engine::UpdatePlan;
use person_patch::ops::aws::describe_sdk_error;
use person_patch::store::item::expression_maps;
use person_patch::store::PersonKey;
use person_patch::table::{PARTITION_KEY, SORT_KEY};

/// Sends `plan` for `key` as a bare `UpdateItem` (new values returned).
pub async fn send_plan(
    client: &Client,
    table: &str,
    key: &PersonKey,
    plan: UpdatePlan,
) -> Result<(), String> {
    let (names, values) = expression_maps(&plan);
    client
        .update_item()
        .table_name(table)
        .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
        .key(SORT_KEY, AttributeValue::S(key.sort_key()))
        .update_expression(plan.update_expression)
        .condition_expression(plan.condition_expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .return_values(ReturnValue::UpdatedNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| describe_sdk_error(&e))
}
