//! What a warm request pays to authenticate: a cached Basic verification (parse the header,
//! SHA-256 it, look it up) against an uncached one (parse, then one argon2id verification).
//! Neither touches DynamoDB; the clients-table read of the uncached path comes on top.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_http::http::{header, HeaderMap, HeaderValue};
use person_patch::auth::{
    cache_key, check_basic, parse_authorization, Credentials, Principal, VerificationCache,
    WRITE_SCOPE,
};
use person_patch::clients::{hash_secret, ApiClient};
use person_patch::store::CustomerId;

fn basic_verification(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YmVxYTRhcGk6YmVxYTRhcGk="),
    );
    let client = ApiClient {
        id: "beqa4api".into(),
        secret_hash: Some(hash_secret("beqa4api").expect("hash")),
        scopes: vec![WRITE_SCOPE.into()],
        customers: vec![CustomerId(14532)],
        enabled: true,
    };
    let principal = Principal {
        id: client.id.clone(),
        scopes: client.scopes.clone(),
        customers: client.customers.clone(),
    };

    let mut group = c.benchmark_group("basic-auth");
    group.sample_size(20);
    group.bench_function("uncached: parse + argon2id verify", |b| {
        b.iter(|| {
            let Ok(Some(Credentials::Basic { secret, .. })) =
                parse_authorization(black_box(&headers))
            else {
                unreachable!()
            };
            assert!(check_basic(&secret, Some(&client)));
        })
    });

    let mut cache = VerificationCache::default();
    let now = Instant::now();
    let raw = headers[header::AUTHORIZATION].as_bytes();
    cache.put(cache_key("basic", raw), principal, now);
    group.bench_function("cached: parse + sha256 + lookup", |b| {
        b.iter(|| {
            let parsed = parse_authorization(black_box(&headers));
            assert!(matches!(parsed, Ok(Some(_))));
            let key = cache_key("basic", black_box(raw));
            assert!(cache.get(&key, now).is_some());
        })
    });
    group.finish();
}

criterion_group!(benches, basic_verification);
criterion_main!(benches);
