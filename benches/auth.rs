//! What a warm request pays to authenticate: a cached Basic verification (parse the header,
//! SHA-256 the credential, look it up) against uncached ones: a generated secret (parse, one
//! SHA-256 and a constant-time compare) and a secret a person chose (parse, one argon2id
//! verification). None touches DynamoDB; the clients-table read of the uncached paths comes on
//! top. Target: a generated-secret verification ≤ 50 µs on a full core.

use std::hint::black_box;
use std::time::Instant;

use base64::Engine;
use criterion::{criterion_group, Criterion};
use lambda_http::http::{header, HeaderMap, HeaderValue};
use person_patch::auth::clients::{generate_secret, hash_secret};
use person_patch::auth::{
    basic_cache_key, check_basic, parse_authorization, AuthPolicy, Credentials, Principal,
    VerificationCache, WRITE_SCOPE,
};
use person_patch::store::ApiClient;
use person_patch::table::CustomerId;

fn headers_for(client_id: &str, secret: &str) -> HeaderMap {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
    );
    headers
}

fn client_with(secret: &str) -> ApiClient {
    ApiClient {
        id: "beqa4api".into(),
        secret_hash: Some(hash_secret(secret).expect("hash")),
        scopes: vec![WRITE_SCOPE.into()],
        customers: vec![CustomerId(14532)],
        enabled: true,
    }
}

fn verify(headers: &HeaderMap, client: &ApiClient) {
    let Ok(Some(Credentials::Basic { secret, .. })) = parse_authorization(black_box(headers))
    else {
        unreachable!()
    };
    assert!(check_basic(&secret, Some(client), AuthPolicy::default()).accepted);
}

fn basic_verification(c: &mut Criterion) {
    let password = headers_for("beqa4api", "beqa4api");
    let password_client = client_with("beqa4api");
    let generated = generate_secret();
    let generated_headers = headers_for("beqa4api", &generated);
    let generated_client = client_with(&generated);
    let principal = Principal {
        id: password_client.id.clone(),
        scopes: password_client.scopes.clone(),
        customers: password_client.customers.clone(),
    };

    let mut group = c.benchmark_group("basic-auth");
    group.bench_function("uncached generated secret: parse + sha256 verify", |b| {
        b.iter(|| verify(&generated_headers, &generated_client))
    });

    let mut cache = VerificationCache::default();
    let now = Instant::now();
    cache.put(basic_cache_key("beqa4api", "beqa4api"), principal, now);
    group.bench_function("cached: parse + sha256 + lookup", |b| {
        b.iter(|| {
            let Ok(Some(Credentials::Basic { client_id, secret })) =
                parse_authorization(black_box(&password))
            else {
                unreachable!()
            };
            let key = basic_cache_key(&client_id, &secret);
            assert!(cache.get(&key, now).is_some());
        })
    });
    group.sample_size(20);
    group.bench_function("uncached password: parse + argon2id verify", |b| {
        b.iter(|| verify(&password, &password_client))
    });
    group.finish();
}

/// The time of a 401 must not tell which client ids exist, are disabled, have no hash, or
/// which parameters their argon2id hash uses: medians of each refusal, side by side, each as
/// a ratio to the unknown-id refusal (target 0.8–1.25×). Through the real authenticator
/// (padding included), over an in-memory clients table.
fn refusal_timing() {
    use person_patch::auth::Authenticator;
    use person_patch::store::memory::MemoryClients;
    use std::time::Duration;

    let foreign_hash = |lanes: u32| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = argon2::Params::new(64 * 1024, 3, lanes, None).expect("params");
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon
            .hash_password(b"the real one", &salt)
            .expect("hash")
            .to_string()
    };
    let foreign = foreign_hash(4);
    let foreign_one_lane = foreign_hash(1);
    let own = hash_secret("the real one").expect("hash");
    let generated = generate_secret();
    let client = |id: &str, hash: Option<String>, enabled: bool| ApiClient {
        id: id.into(),
        secret_hash: hash,
        scopes: vec![WRITE_SCOPE.into()],
        customers: vec![CustomerId(14532)],
        enabled,
    };
    let clients = MemoryClients::new([
        client("own", Some(own.clone()), true),
        client("foreign", Some(foreign), true),
        client("foreign-one-lane", Some(foreign_one_lane), true),
        client("disabled", Some(own), false),
        client("hashless", None, true),
        client(
            "generated",
            Some(hash_secret(&generated).expect("hash")),
            true,
        ),
    ]);
    let authenticator = Authenticator::new(clients);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wrong_generated = generate_secret();
    let cases: [(&str, &str, &str); 9] = [
        ("unknown id", "nobody", "a guess"),
        ("disabled client", "disabled", "a guess"),
        ("client without a hash", "hashless", "a guess"),
        ("wrong secret, own-parameter hash", "own", "a guess"),
        (
            "wrong secret, foreign-parameter hash (m=64 MiB, t=3, p=4)",
            "foreign",
            "a guess",
        ),
        (
            "wrong secret, foreign-parameter hash (m=64 MiB, t=3, p=1)",
            "foreign-one-lane",
            "a guess",
        ),
        ("generated form: unknown id", "nobody", &wrong_generated),
        (
            "generated form: wrong secret",
            "generated",
            &wrong_generated,
        ),
        ("generated form: argon2id client", "own", &wrong_generated),
    ];
    const RUNS: usize = 15;
    let mut medians: Vec<(&str, Duration)> = Vec::new();
    for (label, id, secret) in cases {
        let headers = headers_for(id, secret);
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let result = runtime.block_on(authenticator.authenticate(&headers, None));
                assert!(result.is_err(), "{label} was accepted");
                started.elapsed()
            })
            .collect();
        times.sort();
        medians.push((label, times[RUNS / 2]));
    }
    // A container's first refusal of a cheaper hash, before it has timed a costliest one:
    // the padding falls back to the work ratio and the measured slowdown.
    let mut first: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let fresh = Authenticator::new(MemoryClients::new([client(
                "own",
                Some(hash_secret("the real one").expect("hash")),
                true,
            )]));
            let headers = headers_for("own", "a guess");
            let started = Instant::now();
            let result = runtime.block_on(fresh.authenticate(&headers, None));
            assert!(result.is_err());
            started.elapsed()
        })
        .collect();
    first.sort();
    medians.insert(
        6,
        (
            "wrong secret, own-parameter hash, first refusal in a container",
            first[RUNS / 2],
        ),
    );
    let reference = medians[0].1.as_secs_f64();
    let generated_reference = medians[7].1.as_secs_f64();
    let mut report =
        String::from("| 401 for | median | ratio to its unknown-id case |\n|---|---|---|\n");
    for (i, (label, median)) in medians.iter().enumerate() {
        let base = if i < 7 {
            reference
        } else {
            generated_reference
        };
        report.push_str(&format!(
            "| {label} | {:.3} ms | {:.2}× |\n",
            median.as_secs_f64() * 1000.0,
            median.as_secs_f64() / base
        ));
    }
    println!("\n401 timing (medians of {RUNS}, full core):\n{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("auth-timing.md"), report);
    }
}

criterion_group!(benches, basic_verification);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--bench") {
        refusal_timing();
    }
}
