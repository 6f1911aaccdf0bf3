//! The committed openapi.yaml is exactly what the field tables generate.

#[test]
fn committed_openapi_yaml_is_generated_from_the_field_tables() {
    let generated = person_patch::openapi::to_yaml(&person_patch::openapi::document());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.yaml is stale: regenerate it with `make openapi` and commit the result"
    );
}
