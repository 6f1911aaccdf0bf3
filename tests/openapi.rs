//! The committed openapi.yaml is exactly what the field tables generate.

#[test]
fn committed_openapi_yaml_is_generated_from_the_field_tables() {
    let generated = person_patch::http::openapi::to_yaml(&person_patch::http::openapi::document());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.yaml is stale: regenerate it with `make openapi` and commit the result"
    );
}

/// The Persons v2 request schema, from the generated document.
fn v2_patch_schema() -> serde_json::Value {
    let document = person_patch::http::openapi::document();
    document["components"]["schemas"]["PersonsV2Patch"].clone()
}

#[test]
fn the_date_of_birth_pattern_admits_exactly_the_real_dates_of_1900_to_2099() {
    let pattern = v2_patch_schema()["properties"]["DateOfBirth"]["pattern"].clone();
    let validator =
        jsonschema::validator_for(&serde_json::json!({"type": "string", "pattern": pattern}))
            .expect("the pattern compiles");
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let mut day = time::macros::date!(1900 - 01 - 01);
    let mut count = 0;
    while day.year() < 2100 {
        let text = day.format(format).unwrap();
        assert!(validator.is_valid(&serde_json::json!(text)), "{text}");
        assert!(
            validator.is_valid(&serde_json::json!(format!("{text}T00:00:00"))),
            "{text}"
        );
        day = day.next_day().unwrap();
        count += 1;
    }
    assert_eq!(count, 73_049);
    assert!(validator.is_valid(&serde_json::json!("")));
    // Every string of the shape YYYY-MM-DD that is not a real date is refused.
    for year in [1899, 1900, 1901, 1904, 2000, 2023, 2024, 2100] {
        for month in 0..=13 {
            for d in 0..=32 {
                let text = format!("{year:04}-{month:02}-{d:02}");
                let real = (1900..2100).contains(&year)
                    && time::Month::try_from(month as u8)
                        .ok()
                        .and_then(|m| time::Date::from_calendar_date(year, m, d as u8).ok())
                        .is_some();
                assert_eq!(validator.is_valid(&serde_json::json!(text)), real, "{text}");
            }
        }
    }
    for bad in [
        "2024-01-01T00:00:01",
        "2024-1-01",
        " 2024-01-01",
        "2024-01-01 ",
    ] {
        assert!(!validator.is_valid(&serde_json::json!(bad)), "{bad}");
    }
}
