//! One deadline per request, taken from the invocation's: every DynamoDB call of a request
//! shares it, and it ends [`MARGIN`] before Lambda would stop the invocation, so the
//! caller gets a 503 with `Retry-After` rather than API Gateway's bare 5xx.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The time left for answering after the last DynamoDB call may end.
pub const MARGIN: Duration = Duration::from_secs(1);

/// What of [`MARGIN`] the calls given [`Deadline::with_grace`] may use: a settle read and the
/// key's finish, each ending by the request's deadline plus this, leave more than half of the
/// margin for posting the response.
pub const GRACE: Duration = Duration::from_millis(400);

/// When the request's DynamoDB calls must have ended; `None` when the invocation names no
/// deadline (a test or a local tool calling the handler directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

/// The deadline passed before a call ended; the call was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request's deadline passed")]
pub struct Expired;

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline(None);

    /// From the invocation's deadline in milliseconds since the Unix epoch (the Lambda
    /// context's `deadline`; 0 when there is none), less [`MARGIN`]. A value too small to be a
    /// time since the epoch (before 2001) is read as milliseconds from now: `cargo lambda
    /// watch` sends its timeout (600,000) there.
    pub fn from_invocation(deadline_ms: u64) -> Deadline {
        const EPOCH_MS_2001: u64 = 1_000_000_000_000;
        if deadline_ms == 0 {
            return Deadline::NONE;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let left_ms = if deadline_ms < EPOCH_MS_2001 {
            deadline_ms
        } else {
            deadline_ms.saturating_sub(now_ms)
        };
        let left = Duration::from_millis(left_ms).saturating_sub(MARGIN);
        Deadline(Some(Instant::now() + left))
    }

    /// The deadline `grace` later: for the few calls that may run past the request's deadline
    /// (settling a write whose fate the deadline left unknown, and finishing the key after the
    /// response), inside the [`MARGIN`] left before Lambda stops the invocation.
    pub fn with_grace(self, grace: Duration) -> Deadline {
        Deadline(self.0.map(|at| at + grace))
    }

    /// Whether `wait` ends before the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        self.0.is_none_or(|at| Instant::now() + wait < at)
    }

    /// Runs `call`, abandoning it when the deadline passes first (or has passed already).
    pub async fn run<F: Future>(&self, call: F) -> Result<F::Output, Expired> {
        match self.0 {
            None => Ok(call.await),
            Some(at) if at <= Instant::now() => Err(Expired),
            Some(at) => tokio::time::timeout_at(at, call).await.map_err(|_| Expired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_without_an_invocation_deadline() {
        assert_eq!(Deadline::from_invocation(0), Deadline::NONE);
    }

    #[test]
    fn an_emulators_relative_deadline_is_read_as_time_from_now() {
        let Deadline(Some(at)) = Deadline::from_invocation(600_000) else {
            panic!("no deadline")
        };
        let left = at - Instant::now();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(599));
    }

    #[tokio::test]
    async fn a_passed_deadline_refuses_before_calling() {
        let past = Deadline::from_invocation(1_000_000_000_001);
        let mut called = false;
        let result = past
            .run(async {
                called = true;
            })
            .await;
        assert_eq!(result, Err(Expired));
        assert!(!called);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_deadline_is_abandoned() {
        let soon = Deadline(Some(Instant::now() + Duration::from_millis(50)));
        let slow = soon.run(tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(Expired));
        let quick = Deadline(Some(Instant::now() + Duration::from_secs(5)))
            .run(async { 7 })
            .await;
        assert_eq!(quick, Ok(7));
    }
}
