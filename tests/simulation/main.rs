//! The keyed protocol, simulated: the real flow (claim, settle, execute, conclude, and the
//! pending answer saved after the response), through the real handler on real events, over
//! the in-memory store behind a fault layer that follows a generated schedule. Each schedule
//! decides how every store call of the keyed request's invocations ends (answered; applied
//! with its reply lost; not applied; held back to land later), and between any two steps lets
//! another writer change the person, a process die, or the clock jump past the lock or the
//! retention; clients retry as real ones do. After each, the invariants of
//! [`invariants`] must hold. proptest generates the schedules and shrinks a failing one to the
//! smallest that still fails, printed with what happened.
//!
//! `make test` runs [`DEFAULT_CASES`] schedules from a fixed seed; `make simulate` runs
//! `SIM_CASES` from `SIM_SEED` (a new one when unset, printed, so any run can be replayed).
//! docs/DEVELOPING.md says what a run explores and how fast.

#[path = "../support/mod.rs"]
mod support;

mod driver;
mod invariants;
mod schedule;
mod world;

use std::cell::RefCell;
use std::time::Instant;

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use crate::schedule::{Fault, Step};

/// Schedules `make test` explores.
const DEFAULT_CASES: u32 = 2000;
/// The seed `make test` explores from.
const DEFAULT_SEED: u64 = 0x5EED_0001;
/// The most steps a schedule has (before the end every schedule shares).
const MAX_STEPS: usize = 48;

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// What the explored schedules held, summed.
#[derive(Default)]
struct Tally {
    schedules: u64,
    steps: u64,
    faults: u64,
    invocations: u64,
    applications: u64,
    last_report: Option<Instant>,
}

#[test]
fn every_generated_schedule_keeps_the_keyed_protocols_invariants() {
    let cases = setting("SIM_CASES").map_or(DEFAULT_CASES, |n| n as u32);
    let seed = setting("SIM_SEED").unwrap_or_else(|| {
        if std::env::var("SIM_CASES").is_ok() {
            rand_seed()
        } else {
            DEFAULT_SEED
        }
    });
    eprintln!("simulation: {cases} schedules from seed {seed} (replay: make simulate SIM_SEED={seed} SIM_CASES={cases})");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let started = Instant::now();
    let result = runner.run(&schedule::schedule(MAX_STEPS), |schedule| {
        let report = driver::run(&schedule);
        {
            let mut tally = tally.borrow_mut();
            tally.schedules += 1;
            tally.steps += (schedule.steps.len() + schedule.coda.len()) as u64;
            tally.faults += schedule
                .steps
                .iter()
                .chain(&schedule.coda)
                .filter(|s| match s {
                    Step::Decide(_, fault) => *fault != Fault::Answer,
                    Step::Race(..)
                    | Step::Other(_)
                    | Step::Crash(_)
                    | Step::Land(_)
                    | Step::Advance(_) => true,
                    Step::Send(_) => false,
                })
                .count() as u64;
            tally.invocations += report.world.invocations.len() as u64;
            tally.applications += report.world.applications.len() as u64;
            let due = tally
                .last_report
                .is_none_or(|at| at.elapsed().as_secs() >= 5);
            if due {
                tally.last_report = Some(Instant::now());
                if tally.schedules > 1 {
                    eprintln!(
                        "simulation: {} of {cases} schedules, {:.0}/s",
                        tally.schedules,
                        tally.schedules as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        let outcome = invariants::Outcome {
            world: &report.world,
            entry: report.entry.clone(),
        };
        invariants::check(&outcome).map_err(TestCaseError::fail)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let tally = tally.into_inner();
    let per = |n: u64| n as f64 / tally.schedules.max(1) as f64;
    eprintln!(
        "simulation: {} schedules in {elapsed:.1} s ({:.0}/s); per schedule {:.1} steps, {:.1} faults, \
         {:.1} invocations, {:.1} updates applied",
        tally.schedules,
        tally.schedules as f64 / elapsed,
        per(tally.steps),
        per(tally.faults),
        per(tally.invocations),
        per(tally.applications),
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, schedule)) => {
            let report = driver::run(&schedule);
            panic!(
                "an invariant broke: {why}\nsmallest schedule: {schedule:#?}\nwhat happened:\n{}\n\
                 replay: make simulate SIM_SEED={seed} SIM_CASES={cases}",
                report.world.trace.join("\n")
            );
        }
        Err(TestError::Abort(why)) => panic!("the simulation stopped: {why}"),
    }
}

/// A seed for a run that names none.
fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// Schedules written out by hand: each reaches an interleaving the protocol must survive and
/// that generation reaches only rarely. Each runs in both dialects, on a person with a
/// `version` and on one without.
fn named_schedules() -> Vec<(&'static str, Vec<Step>)> {
    use crate::schedule::{Interference, Jump, Reply, Writer};
    let answer = Step::Decide(0, Fault::Answer);
    vec![
        (
            // The first sending is held back past the lock; the retry takes over and reads the
            // person; the held sending lands and another writer writes over it before the
            // retry's update is sent. The update must require the person as read.
            "a held sending lands and is written over between a take-over's read and its update",
            vec![
                Step::Send(0),
                answer,
                Step::Decide(0, Fault::HeldBack(Reply::Unavailable)),
                answer,
                answer,
                Step::Advance(Jump::PastLock),
                Step::Send(0),
                answer,
                answer,
                Step::Race(
                    Interference::LandThenOther(0, Writer::Plain),
                    0,
                    Fault::Answer,
                ),
            ],
        ),
        (
            // As above, but the held sending lands last: after the take-over's write and
            // another writer's. The fence (the first claim's lock end) must refuse it.
            "a held sending lands after the take-over's write and another writer's",
            vec![
                Step::Send(0),
                answer,
                Step::Decide(0, Fault::HeldBack(Reply::Unavailable)),
                answer,
                Step::Advance(Jump::PastLock),
                Step::Send(0),
                answer,
                answer,
                answer,
                answer,
                Step::Other(Writer::Plain),
                Step::Land(0),
            ],
        ),
        (
            // The first sending commits and its reply is lost; a store that then sends it
            // again hears it throttled; another writer writes over it before the read that
            // settles it. The key must not be released.
            "throttled after a committed sending, another writer in between",
            vec![
                Step::Send(0),
                answer,
                Step::Decide(0, Fault::AppliedLost(Reply::Throttled)),
                Step::Race(Interference::Other(Writer::Plain), 0, Fault::Answer),
            ],
        ),
        (
            // The update is applied and its reply never comes: the deadline ends the call.
            // The read that settles it runs in the grace past the deadline, finds the write,
            // and the request answers the success it was.
            "an applied update's reply lost to the deadline",
            vec![
                Step::Send(0),
                answer,
                Step::Decide(0, Fault::AppliedLost(Reply::Deadline)),
                answer,
            ],
        ),
        (
            // The update is applied, its reply lost; another writer writes over it before the
            // read that settles it. The key must not be released: a retry would apply it again.
            "an applied update written over before the read that settles it",
            vec![
                Step::Send(0),
                answer,
                Step::Decide(0, Fault::AppliedLost(Reply::Unavailable)),
                Step::Race(Interference::Other(Writer::Plain), 0, Fault::Answer),
                Step::Advance(Jump::PastLock),
                Step::Send(0),
            ],
        ),
    ]
}

#[test]
fn named_schedules_keep_the_keyed_protocols_invariants() {
    use crate::schedule::{Dialect, Schedule};
    for (name, steps) in named_schedules() {
        for dialect in [Dialect::ContactsV1, Dialect::PersonsV2] {
            for unversioned in [false, true] {
                let schedule = Schedule {
                    dialect,
                    unversioned,
                    steps: steps.clone(),
                    coda: Vec::new(),
                };
                let report = driver::run(&schedule);
                let outcome = invariants::Outcome {
                    world: &report.world,
                    entry: report.entry.clone(),
                };
                if let Err(why) = invariants::check(&outcome) {
                    panic!(
                        "{name} ({dialect:?}, unversioned: {unversioned}): {why}\nwhat happened:\n{}",
                        report.world.trace.join("\n")
                    );
                }
            }
        }
    }
}
