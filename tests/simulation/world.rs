//! The simulated world: the in-memory store behind a fault layer that holds every store call
//! of a client's invocation until the schedule says how it ends, the sendings held back, and
//! the history the invariants are checked against.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use person_patch::engine::record::{version_of, Record, Stored};
use person_patch::engine::{Definitions, UpdatePlan, Value};
use person_patch::store::memory::MemoryStore;
use person_patch::store::{
    Claim, ClaimRequest, DefinitionStore, EntryKey, Finished, KeyStore, PersonKey, PersonStore,
    Returning, SavedAnswer, StoreError, Updated,
};
use person_patch::table::person::LAST_WRITE_ID;
use person_patch::table::CustomerId;
use tokio::sync::{oneshot, Notify};

use crate::schedule::{Fault, Reply};

tokio::task_local! {
    /// The invocation a store call belongs to.
    pub static INVOCATION: u32;
}

/// Which store call is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Claim,
    Save,
    Release,
    Read,
    Update,
    Definitions,
}

/// A store call held until the driver says how it ends.
pub struct Gated {
    pub invocation: u32,
    pub call: Call,
    pub decide: oneshot::Sender<Fault>,
}

/// A sending held back: its effect, when it lands.
pub struct HeldBack {
    pub invocation: u32,
    pub call: Call,
    pub land: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// An update that was applied.
#[derive(Debug, Clone)]
pub struct Application {
    pub write_id: String,
    pub version: u64,
    /// The logical request it belongs to.
    pub tag: u32,
    pub invocation: u32,
    /// Applied when its call was answered (not by a sending held back and landed later).
    pub at_call: bool,
}

/// An answer an invocation gave.
#[derive(Debug, Clone)]
pub struct Answer {
    pub invocation: u32,
    pub tag: u32,
    pub status: u16,
    pub etag: Option<String>,
    pub replayed: bool,
    pub body: Option<String>,
    /// The person carried this invocation's own write id when it answered.
    pub own_write_standing: bool,
    /// A sending held back landed while the invocation ran.
    pub saw_landing: bool,
    /// A read after its update failed.
    pub settle_failed: bool,
}

/// One invocation: whose it is, and where it stands.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The logical request (0 for another writer, whose calls are not faulted).
    pub tag: u32,
    pub gated: bool,
    pub done: bool,
    pub write_id: Option<String>,
    pub saw_landing: bool,
    /// A read after its update failed: the write's fate could not be settled then.
    pub settle_failed: bool,
}

/// Everything the schedule acts on and the invariants read.
#[derive(Default)]
pub struct World {
    pub gated: Vec<Gated>,
    pub held: Vec<HeldBack>,
    pub invocations: BTreeMap<u32, Invocation>,
    pub applications: Vec<Application>,
    pub answers: Vec<Answer>,
    /// Answers saved for the simulated key (by the logical request's tag), in order.
    pub saved: Vec<(u32, SavedAnswer)>,
    /// What happened, one line a step, for a failing schedule's report.
    pub trace: Vec<String>,
    /// A sending held back is landing now.
    pub landing: bool,
}

/// The world, shared by the driver and the fault layer.
#[derive(Clone, Default)]
pub struct Shared {
    pub world: Arc<Mutex<World>>,
    pub changed: Arc<Notify>,
}

impl World {
    /// Adds a line to the trace (printed as it comes under `SIM_TRACE`).
    pub fn note(&mut self, line: String) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("{line}");
        }
        self.trace.push(line);
    }
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, World> {
        match self.world.lock() {
            Ok(world) => world,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn note(&self, line: String) {
        self.lock().note(line);
    }
}

/// An invocation held at the store; no longer once this is dropped.
struct Held<'a> {
    shared: &'a Shared,
    invocation: u32,
    /// Dropped undecided: a read that settles a write, abandoned.
    abandoned: bool,
    /// When it was held.
    at: tokio::time::Instant,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.shared.lock().invocations.get_mut(&self.invocation) {
            i.gated = false;
            // A read abandoned the instant it was sent had no time to be answered: the
            // function gave up on it, and what it then answers is its own doing.
            let waited = tokio::time::Instant::now() > self.at;
            i.settle_failed |= self.abandoned && waited && i.write_id.is_some();
        }
    }
}

/// The in-memory store behind the fault layer.
#[derive(Clone)]
pub struct Faulty {
    pub inner: Arc<MemoryStore>,
    pub shared: Shared,
    pub person: PersonKey,
    pub entry: EntryKey,
}

/// How a held call ends for its caller.
enum Ending<T> {
    Answer(T),
    /// The caller waits until its deadline ends the call.
    Hang,
}

impl Faulty {
    /// The invocation of the running task, and whether its calls are faulted.
    fn invocation(&self) -> (u32, bool) {
        let id = INVOCATION.try_with(|id| *id).unwrap_or(0);
        let faulted = self
            .shared
            .lock()
            .invocations
            .get(&id)
            .is_some_and(|i| i.tag != 0);
        (id, faulted)
    }

    /// Holds the call until the driver decides; answered (as if undecided) when the driver
    /// drops it.
    async fn gate(&self, invocation: u32, call: Call) -> Fault {
        let (decide, decided) = oneshot::channel();
        {
            let mut world = self.shared.lock();
            world.gated.push(Gated {
                invocation,
                call,
                decide,
            });
            if let Some(i) = world.invocations.get_mut(&invocation) {
                i.gated = true;
            }
        }
        self.shared.changed.notify_one();
        // Held until decided, or until the call is abandoned (its deadline passed): a read
        // abandoned so has failed.
        let mut held = Held {
            shared: &self.shared,
            invocation,
            abandoned: call == Call::Read,
            at: tokio::time::Instant::now(),
        };
        let fault = decided.await.unwrap_or(Fault::Answer);
        held.abandoned = false;
        fault
    }

    /// Runs a call with effects (`effect`) as `fault` says.
    async fn faulted<T: Send + 'static>(
        &self,
        call: Call,
        effect: impl FnOnce() -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>,
    ) -> Result<T, StoreError> {
        let (invocation, faulted) = self.invocation();
        if !faulted {
            return effect().await;
        }
        let fault = heard(call, self.gate(invocation, call).await);
        let ending = match fault {
            Fault::Answer => Ending::Answer(effect().await),
            Fault::AppliedLost(reply) => {
                let _ = effect().await;
                error_of(reply)
            }
            Fault::NotApplied(reply) => error_of(reply),
            Fault::HeldBack(reply) => {
                let land = effect();
                self.shared.lock().held.push(HeldBack {
                    invocation,
                    call,
                    land: Box::pin(async move {
                        let _ = land.await;
                    }),
                });
                error_of(reply)
            }
        };
        match ending {
            Ending::Answer(result) => result,
            Ending::Hang => std::future::pending().await,
        }
    }

    /// A read: it has no effect, so it is answered or fails.
    async fn read<T>(
        &self,
        call: Call,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let (invocation, faulted) = self.invocation();
        if !faulted {
            return read.await;
        }
        let fault = self.gate(invocation, call).await;
        if fault != Fault::Answer {
            if let Some(i) = self.shared.lock().invocations.get_mut(&invocation) {
                i.settle_failed |= call == Call::Read && i.write_id.is_some();
            }
        }
        match fault {
            Fault::Answer => read.await,
            Fault::AppliedLost(reply) | Fault::NotApplied(reply) | Fault::HeldBack(reply) => {
                match error_of::<T>(reply) {
                    Ending::Answer(error) => error,
                    Ending::Hang => std::future::pending().await,
                }
            }
        }
    }

    /// The update, applied to the in-memory store and recorded when it applies.
    fn apply(&self, plan: UpdatePlan) -> impl Future<Output = Result<Updated, StoreError>> {
        let store = self.inner.clone();
        let shared = self.shared.clone();
        let key = self.person.clone();
        let invocation = INVOCATION.try_with(|id| *id).unwrap_or(0);
        async move {
            let before = store.person(&key).as_ref().and_then(version_of);
            let result = store.apply(&key, &plan);
            let after = store.person(&key).as_ref().and_then(version_of);
            if after != before {
                let mut world = shared.lock();
                let tag = world.invocations.get(&invocation).map_or(0, |i| i.tag);
                let at_call = !world.landing;
                world.applications.push(Application {
                    write_id: plan.write_id.clone(),
                    version: after.unwrap_or(0),
                    tag,
                    invocation,
                    at_call,
                });
            }
            result
        }
    }

    /// Whether the person carries `write_id` now.
    pub fn carries(&self, write_id: &str) -> bool {
        let person: Option<Record> = self.inner.person(&self.person);
        matches!(
            person.as_ref().and_then(|p| p.get(LAST_WRITE_ID)),
            Some(Stored::Value(Value::S(id))) if id == write_id
        )
    }
}

/// A fault as the store's caller hears it. A keyed update is sent again only after DynamoDB
/// answered it throttled (`src/store/persons.rs`), so a throttled answer leaves no sending in
/// flight: one held back is heard as unavailable. (A throttled answer after a sending that did
/// apply is explored as it comes: the protocol settles a throttled update from the person
/// rather than trust the store's promise.)
fn heard(call: Call, fault: Fault) -> Fault {
    match (call, fault) {
        (Call::Update, Fault::HeldBack(Reply::Throttled)) => Fault::HeldBack(Reply::Unavailable),
        (_, fault) => fault,
    }
}

/// The caller's side of a reply that did not come.
fn error_of<T>(reply: Reply) -> Ending<Result<T, StoreError>> {
    match reply {
        Reply::Unavailable => Ending::Answer(Err(StoreError::Unavailable("simulated".into()))),
        Reply::Throttled => Ending::Answer(Err(StoreError::Throttled)),
        Reply::Deadline => Ending::Hang,
    }
}

impl PersonStore for Faulty {
    async fn update_person(
        &self,
        _key: &PersonKey,
        plan: UpdatePlan,
        _returning: Returning,
    ) -> Result<Updated, StoreError> {
        let (invocation, _) = self.invocation();
        if let Some(i) = self.shared.lock().invocations.get_mut(&invocation) {
            i.write_id = Some(plan.write_id.clone());
        }
        let this = self.clone();
        self.faulted(Call::Update, move || Box::pin(this.apply(plan)))
            .await
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        self.read(Call::Read, self.inner.read_person(key)).await
    }
}

impl DefinitionStore for Faulty {
    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        self.read(Call::Definitions, self.inner.field_definitions(customer))
            .await
    }
}

impl KeyStore for Faulty {
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let store = self.inner.clone();
        let (entry, fingerprint, claim_id, now) = (
            request.entry.clone(),
            request.fingerprint.to_owned(),
            request.claim_id.to_owned(),
            request.now,
        );
        self.faulted(Call::Claim, move || {
            Box::pin(async move {
                store
                    .claim(ClaimRequest {
                        entry: &entry,
                        fingerprint: &fingerprint,
                        claim_id: &claim_id,
                        now,
                    })
                    .await
            })
        })
        .await
    }

    async fn save_answer(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        answer: &SavedAnswer,
    ) -> Result<Finished, StoreError> {
        let store = self.inner.clone();
        let shared = self.shared.clone();
        let (entry, claim_id, answer) = (entry.clone(), claim_id.to_owned(), answer.clone());
        let (invocation, _) = self.invocation();
        let tag = self
            .shared
            .lock()
            .invocations
            .get(&invocation)
            .map_or(0, |i| i.tag);
        let simulated = self.entry.clone();
        self.faulted(Call::Save, move || {
            Box::pin(async move {
                let finished = store.save_answer(&entry, &claim_id, &answer).await;
                if finished == Ok(Finished::Now) && entry == simulated {
                    shared.lock().saved.push((tag, answer));
                }
                finished
            })
        })
        .await
    }

    async fn release(&self, entry: &EntryKey, claim_id: &str) -> Result<Finished, StoreError> {
        let store = self.inner.clone();
        let (entry, claim_id) = (entry.clone(), claim_id.to_owned());
        self.faulted(Call::Release, move || {
            Box::pin(async move { store.release(&entry, &claim_id).await })
        })
        .await
    }
}
