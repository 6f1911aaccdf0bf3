//! Password hashing off the scheduler thread. An argon2id verification or hash takes tens to
//! hundreds of milliseconds of CPU; run on the scheduler thread, it would stall every request
//! the environment serves beside it. It runs on tokio's blocking threads instead, at most as
//! many at once as the environment has vCPUs; a caller waits for its turn under its own
//! request's deadline (the whole authentication runs under it), and a computation already
//! started holds its turn until it ends, so the bound holds even for callers that gave up.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The bounded pool password hashing runs on.
pub struct HashPool {
    turns: Arc<Semaphore>,
}

/// The computation could not run to its end (it panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl HashPool {
    /// At most `size` computations at once (at least one).
    pub fn new(size: usize) -> HashPool {
        HashPool {
            turns: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// As many at once as the environment has vCPUs (the cgroup's CPU quota counts).
    pub fn for_environment() -> HashPool {
        HashPool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `work` on a blocking thread once a turn is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Interrupted> {
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| Interrupted)?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|_| Interrupted)
    }

    /// How many turns are free now.
    pub fn free(&self) -> usize {
        self.turns.available_permits()
    }
}

impl Default for HashPool {
    fn default() -> Self {
        HashPool::for_environment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn no_more_run_at_once_than_the_pool_allows() {
        let pool = Arc::new(HashPool::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.ok(), Some(Ok(())));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.free(), 2);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_its_computation_holding_its_turn() {
        let pool = HashPool::new(1);
        let gave_up = tokio::time::timeout(
            Duration::from_millis(10),
            pool.run(|| std::thread::sleep(Duration::from_millis(200))),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(pool.free(), 0, "the computation still runs");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pool.free(), 1);
    }

    #[tokio::test]
    async fn a_panicking_computation_is_interrupted_and_frees_its_turn() {
        let pool = HashPool::new(1);
        let result = pool.run(|| panic!("a defect")).await;
        assert_eq!(result, Err::<(), _>(Interrupted));
        assert_eq!(pool.free(), 1);
    }
}
