//! The short form of `make load`: a few function processes (this build's `person-patch`, each
//! behind its own Runtime API stand-in, one request at a time) for a few seconds against
//! DynamoDB Local, with the same mix and the same checks: no 5xx (no keyed request lost to
//! contention), no two successes of a person sharing a version, the stored version 1 + the
//! successes without gaps, each field holding its last success's value, 412s naming an ETag
//! at least as new as the one sent, replays repeating the first answer, and every key's record
//! finished. No timing is asserted.

#[path = "../benches/harness/mod.rs"]
mod harness;

use std::path::PathBuf;
use std::time::Duration;

use harness::load::{self, Kind, LoadSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_scaled_out_loses_doubles_and_misreports_nothing() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run with scripts/with-dynamodb-local (make test)");
    let settings = LoadSettings {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_person-patch")),
        endpoint,
        processes: 3,
        duration: Duration::from_secs(4),
        tables: format!("load-test-{}", std::process::id()),
    };
    let report = load::run(&settings).await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    let mix = report.status_mix();
    for kind in Kind::ALL {
        let answered: usize = mix.get(&kind).map_or(0, |m| m.values().sum());
        assert!(answered > 0, "no {} request was sent", kind.label());
    }
    // Keyed requests on the hot persons were carried out, not refused.
    let keyed_successes: usize = mix[&Kind::Keyed]
        .iter()
        .filter(|(status, _)| (200..300).contains(*status))
        .map(|(_, count)| count)
        .sum();
    assert!(keyed_successes > 0);
}
