//! Every API Gateway event under `events/` against DynamoDB Local with the demo data, each
//! beside its expected response (`<name>.expected.json`): adding a fixture adds a case here.
//! (`events/stream/` holds the events function's DynamoDB stream events: tests/events.rs.)
//!
//! An expected response names `status`, and optionally `headers` (each must be present with
//! that value), `problemType` (the problem's `type`), and `body` (`null`: no body; an object:
//! every member given must match, recursively).

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use support::*;

fn fixtures(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "stream") {
                continue;
            }
            fixtures(&path, found);
        } else if path.extension().is_some_and(|e| e == "json")
            && !path.to_string_lossy().ends_with(".expected.json")
        {
            found.push(path);
        }
    }
}

/// Whether `actual` holds everything `expected` names.
fn contains(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Object(a), Json::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        _ => actual == expected,
    }
}

async fn check(path: &Path) -> Result<(), String> {
    let expected_path = PathBuf::from(path.to_string_lossy().replace(".json", ".expected.json"));
    let expected: Json = serde_json::from_str(
        &std::fs::read_to_string(&expected_path)
            .map_err(|e| format!("no expected response {}: {e}", expected_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", expected_path.display()))?;
    let shape = if path.to_string_lossy().contains("rest-api") {
        Shape::RestApi
    } else {
        Shape::HttpApi
    };
    let json: Json =
        serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?)
            .map_err(|e| format!("not JSON: {e}"))?;
    let env = TestEnv::new().await;
    let reply = env.send(&Event { json, shape }).await;

    let status = expected["status"]
        .as_u64()
        .ok_or("expected status missing")?;
    if u64::from(reply.status) != status {
        return Err(format!(
            "status {} (expected {status}): {:?}",
            reply.status, reply.body
        ));
    }
    if let Some(headers) = expected["headers"].as_object() {
        for (name, value) in headers {
            let got = reply.header(name);
            if got != value.as_str() {
                return Err(format!("header {name}: {got:?}, expected {value}"));
            }
        }
    }
    if reply.status >= 400 {
        let problem = reply.problem();
        if let Some(kind) = expected.get("problemType") {
            if &problem["type"] != kind {
                return Err(format!("problem type {}, expected {kind}", problem["type"]));
            }
        }
    }
    match expected.get("body") {
        None => {}
        Some(Json::Null) if reply.body.is_some() => {
            return Err(format!("a body where none was expected: {:?}", reply.body));
        }
        Some(Json::Null) => {}
        Some(body) => {
            let actual: Json = serde_json::from_str(reply.body.as_deref().unwrap_or("null"))
                .map_err(|e| format!("body is not JSON: {e}"))?;
            if !contains(&actual, body) {
                return Err(format!("body {actual} does not contain {body}"));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_fixture_answers_as_expected() {
    let mut paths = Vec::new();
    fixtures(&repo_root().join("events"), &mut paths);
    assert!(paths.len() >= 40, "only {} fixtures found", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(why) = check(path).await {
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    println!("{} fixtures answered as expected", paths.len());
}
