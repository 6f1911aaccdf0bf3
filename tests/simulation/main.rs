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
            tally.steps += schedule.steps.len() as u64;
            tally.faults += schedule
                .steps
                .iter()
                .filter(|s| match s {
                    Step::Decide(_, fault) => *fault != Fault::Answer,
                    Step::Other(_) | Step::Crash(_) | Step::Land(_) | Step::Advance(_) => true,
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
