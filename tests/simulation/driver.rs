//! Runs one schedule: a fresh world on a single-threaded runtime whose clock only moves when
//! every task waits (tokio's paused time), so a schedule plays out the same way every time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::Context;
use person_patch::auth::{secrets, Authenticator};
use person_patch::engine::record::Record;
use person_patch::http::app::App;
use person_patch::http::entry::handle_raw_event;
use person_patch::http::idempotency::key::{entry_key, parse_key};
use person_patch::store::memory::{MemoryClients, MemoryStore};
use person_patch::store::{ApiClient, PersonKey};
use person_patch::table::CustomerId;
use serde_json::json;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::schedule::{Dialect, Fault, Interference, Jump, Schedule, Step, Writer};
use crate::support::{Event, Reply, Shape};
use crate::world::{Answer, Faulty, Invocation, Shared, World, INVOCATION};

const CUSTOMER: i64 = 14532;
const V1_PERSON: &str = "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c";
const V2_PERSON: &str = "16";
const CLIENT: &str = "sim-client";
const KEY: &str = "sim-key";
/// How many times, past the lock each time, the client retries at the end for its answer.
pub const FINAL_RETRIES: usize = 4;

thread_local! {
    static ORIGIN: std::cell::Cell<Option<tokio::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// The function's clock in the simulation: a fixed start plus the runtime's (paused) time.
fn simulated_clock() -> OffsetDateTime {
    let start = time::macros::datetime!(2026-12-01 00:00:00 UTC);
    let elapsed = ORIGIN
        .with(|origin| origin.get())
        .map_or(Duration::ZERO, |origin| {
            tokio::time::Instant::now() - origin
        });
    start + elapsed
}

/// What a schedule left: the world, and the client's answers at the end.
pub struct Report {
    pub world: World,
    /// The simulated key's entry at the end, as stored.
    pub entry: Option<person_patch::store::memory::MemoryEntry>,
}

struct Sim {
    app: Arc<App<Faulty, MemoryClients>>,
    shared: Shared,
    dialect: Dialect,
    secret: String,
    next_invocation: u32,
    tag: u32,
    clients: [Option<(u32, JoinHandle<()>)>; 2],
    others: u32,
}

/// Plays `schedule` out and returns what happened.
pub fn run(schedule: &Schedule) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        ORIGIN.with(|origin| origin.set(Some(tokio::time::Instant::now())));
        let mut sim = Sim::new(schedule.dialect, schedule.unversioned);
        for (i, step) in schedule.steps.iter().enumerate() {
            sim.shared.note(format!("step {i}: {step:?}"));
            sim.step(*step).await;
        }
        sim.finish(&schedule.coda).await;
        let world = std::mem::take(&mut *sim.shared.lock());
        Report {
            world,
            entry: sim.app.store.inner.entry(&sim.app.store.entry),
        }
    })
}

impl Sim {
    fn new(dialect: Dialect, unversioned: bool) -> Sim {
        let customer = CustomerId(CUSTOMER);
        let person = match dialect {
            Dialect::ContactsV1 => PersonKey::new(customer, V1_PERSON),
            Dialect::PersonsV2 => PersonKey::new(customer, V2_PERSON),
        };
        let store = Arc::new(MemoryStore::new(
            std::slice::from_ref(&person),
            HashMap::new(),
        ));
        if unversioned {
            store.put_person(&person, Record::new());
        }
        let secret = secrets::generate();
        let clients = MemoryClients::new([ApiClient {
            id: CLIENT.into(),
            secret_hash: Some(secrets::hash(&secret)),
            scopes: vec!["contacts:persons:write".into()],
            customers: vec![customer],
            enabled: true,
        }]);
        let shared = Shared::default();
        let key = parse_key(&{
            let mut headers = lambda_http::http::HeaderMap::new();
            headers.insert(
                "idempotency-key",
                lambda_http::http::HeaderValue::from_static("\"sim-key\""),
            );
            headers
        })
        .ok()
        .flatten()
        .expect("the simulated key parses");
        let faulty = Faulty {
            inner: store,
            shared: shared.clone(),
            person,
            entry: entry_key(customer, CLIENT, &key),
        };
        let mut app = App::new(faulty, Authenticator::new(clients));
        app.clock = simulated_clock;
        Sim {
            app: Arc::new(app),
            shared,
            dialect,
            secret,
            next_invocation: 1,
            tag: 1,
            clients: [None, None],
            others: 0,
        }
    }

    /// The event a client (or another writer) sends.
    fn event(&self, body: serde_json::Value, key: Option<&str>) -> String {
        let event = match self.dialect {
            Dialect::ContactsV1 => Event::v1(Shape::HttpApi),
            Dialect::PersonsV2 => Event::v2(Shape::HttpApi).v2_person(V2_PERSON),
        };
        let mut event = event.json_body(&body).basic(CLIENT, &self.secret);
        if let Some(key) = key {
            event = event.header("Idempotency-Key", &format!("\"{key}\""));
        }
        serde_json::to_string(&event.json).unwrap_or_default()
    }

    fn keyed_body(&self) -> serde_json::Value {
        match self.dialect {
            Dialect::ContactsV1 => json!({"position": "simulated"}),
            Dialect::PersonsV2 => json!({"FirstName": "Simulated"}),
        }
    }

    fn other_body(&self, n: u32) -> serde_json::Value {
        match self.dialect {
            Dialect::ContactsV1 => json!({"surname": format!("other {n}")}),
            Dialect::PersonsV2 => json!({"LastName": format!("other {n}")}),
        }
    }

    /// Starts an invocation of `text`; `tag` 0 is another writer, not faulted.
    fn spawn(&mut self, text: String, tag: u32) -> (u32, JoinHandle<()>) {
        let id = self.next_invocation;
        self.next_invocation += 1;
        self.shared.lock().invocations.insert(
            id,
            Invocation {
                tag,
                ..Invocation::default()
            },
        );
        let app = self.app.clone();
        let shared = self.shared.clone();
        let handle = tokio::spawn(async move {
            let mut context = Context::default();
            context.request_id = format!("sim-{id}");
            // Ten seconds from now, as an emulator gives it (see `Deadline`).
            context.deadline = 10_000;
            let handled = INVOCATION
                .scope(id, handle_raw_event(&app, &text, context))
                .await;
            let wire = serde_json::to_value(handled.response).unwrap_or_default();
            let reply = Reply::from_wire(wire);
            {
                let mut world = shared.lock();
                let invocation = world.invocations.get(&id).cloned().unwrap_or_default();
                let own_write_standing = invocation
                    .write_id
                    .as_deref()
                    .is_some_and(|w| app.store.carries(w));
                world.note(format!(
                    "  invocation {id} answered {} {}",
                    reply.status,
                    reply.header("etag").unwrap_or("")
                ));
                world.answers.push(Answer {
                    invocation: id,
                    tag,
                    status: reply.status,
                    etag: reply.header("etag").map(str::to_owned),
                    replayed: reply.header("idempotent-replayed") == Some("true"),
                    body: reply.body.clone(),
                    own_write_standing,
                    saw_landing: invocation.saw_landing,
                    settle_failed: invocation.settle_failed,
                });
            }
            if let Some(pending) = handled.pending {
                INVOCATION.scope(id, pending.finish(&app.store)).await;
            }
            if let Some(i) = shared.lock().invocations.get_mut(&id) {
                i.done = true;
            }
            shared.changed.notify_one();
        });
        (id, handle)
    }

    /// Waits until every open invocation is held at the store or done.
    async fn quiesce(&self) {
        loop {
            let running = self
                .shared
                .lock()
                .invocations
                .values()
                .any(|i| !i.done && !i.gated);
            if !running {
                return;
            }
            let woken = tokio::time::timeout(
                Duration::from_secs(24 * 3600),
                self.shared.changed.notified(),
            )
            .await;
            if woken.is_err() {
                let world = self.shared.lock();
                panic!("stuck: {:?}\n{}", world.invocations, world.trace.join("\n"));
            }
        }
    }

    fn client_idle(&self, client: usize) -> bool {
        match &self.clients[client] {
            None => true,
            Some((id, _)) => self
                .shared
                .lock()
                .invocations
                .get(id)
                .is_none_or(|i| i.done),
        }
    }

    async fn step(&mut self, step: Step) {
        match step {
            Step::Send(client) => {
                if self.client_idle(client) {
                    let text = self.event(self.keyed_body(), Some(KEY));
                    let spawned = self.spawn(text, self.tag);
                    self.shared
                        .note(format!("  client {client}: invocation {}", spawned.0));
                    self.clients[client] = Some(spawned);
                }
            }
            Step::Decide(n, fault) => self.decide(n, fault),
            Step::Race(interference, n, fault) => {
                match interference {
                    Interference::Land(held) => self.land(held).await,
                    Interference::Other(writer) => self.other(writer).await,
                    Interference::LandThenOther(held, writer) => {
                        self.land(held).await;
                        self.other(writer).await;
                    }
                }
                self.decide(n, fault);
            }
            Step::Other(writer) => self.other(writer).await,
            Step::Crash(n) => self.crash(n).await,
            Step::Land(n) => self.land(n).await,
            Step::Advance(jump) => {
                // Time passes for every task alike: a call held past its request's deadline is
                // abandoned when the deadline comes, as it would be.
                tokio::time::sleep(jump.duration()).await;
                if jump == Jump::PastRetention {
                    self.tag += 1;
                }
            }
        }
        self.quiesce().await;
    }

    /// Another writer changes the person, and is answered.
    async fn other(&mut self, writer: Writer) {
        self.others += 1;
        let key = format!("other-{}", self.others);
        let text = match writer {
            Writer::Plain => self.event(self.other_body(self.others), None),
            Writer::Keyed => self.event(self.other_body(self.others), Some(&key)),
        };
        let (id, handle) = self.spawn(text, 0);
        self.shared.note(format!("  other writer: invocation {id}"));
        let _ = handle.await;
    }

    /// Ends the `n`-th held call (of those whose invocation is alive) as `fault` says.
    fn decide(&mut self, n: usize, fault: Fault) {
        let mut world = self.shared.lock();
        world.gated.retain(|g| !g.decide.is_closed());
        if world.gated.is_empty() {
            return;
        }
        let at = n % world.gated.len();
        let gated = world.gated.remove(at);
        world.note(format!(
            "  invocation {}'s {:?} ends {fault:?}",
            gated.invocation, gated.call
        ));
        // Released: it runs until its next call or its end before the next step.
        if let Some(i) = world.invocations.get_mut(&gated.invocation) {
            i.gated = false;
        }
        let _ = gated.decide.send(fault);
    }

    /// The process of the `n`-th open client invocation dies.
    async fn crash(&mut self, n: usize) {
        let open: Vec<usize> = (0..2).filter(|c| !self.client_idle(*c)).collect();
        if open.is_empty() {
            return;
        }
        let client = open[n % open.len()];
        if let Some((id, handle)) = self.clients[client].take() {
            handle.abort();
            let _ = handle.await;
            let mut world = self.shared.lock();
            world.note(format!("  invocation {id} dies"));
            if let Some(i) = world.invocations.get_mut(&id) {
                i.done = true;
            }
            world.gated.retain(|g| g.invocation != id);
        }
    }

    /// The `n`-th sending held back lands.
    async fn land(&mut self, n: usize) {
        let held = {
            let mut world = self.shared.lock();
            if world.held.is_empty() {
                return;
            }
            let at = n % world.held.len();
            let held = world.held.remove(at);
            world.note(format!(
                "  invocation {}'s held-back {:?} lands",
                held.invocation, held.call
            ));
            world.landing = true;
            for i in world.invocations.values_mut().filter(|i| !i.done) {
                i.saw_landing = true;
            }
            held
        };
        held.land.await;
        self.shared.lock().landing = false;
    }

    /// Lets every open invocation end, each held call answered.
    async fn drain(&mut self) {
        loop {
            self.quiesce().await;
            let open = self.shared.lock().invocations.values().any(|i| !i.done);
            if !open {
                return;
            }
            self.decide(0, Fault::Answer);
        }
    }

    /// The schedule's end: every held call answered; the client retries past the lock, which
    /// takes over any claim the steps left running, and the `coda` plays out around that
    /// retry; then the client retries past the lock until it has an answer to keep, every
    /// sending still held back lands, and the client asks once more (a replay).
    async fn finish(&mut self, coda: &[Step]) {
        self.shared.note("end: drain".into());
        self.drain().await;
        self.step(Step::Advance(Jump::PastLock)).await;
        self.step(Step::Send(0)).await;
        for (i, step) in coda.iter().enumerate() {
            self.shared.note(format!("coda {i}: {step:?}"));
            self.step(*step).await;
        }
        self.shared.note("end: retries".into());
        self.drain().await;
        for _ in 0..FINAL_RETRIES {
            self.step(Step::Advance(Jump::PastLock)).await;
            self.step(Step::Send(0)).await;
            self.drain().await;
            let last = self.shared.lock().answers.last().cloned();
            if last.is_some_and(|a| crate::invariants::is_final(&a)) {
                break;
            }
        }
        while !self.shared.lock().held.is_empty() {
            self.land(0).await;
        }
        self.step(Step::Send(0)).await;
        self.drain().await;
    }
}
