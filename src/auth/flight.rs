//! One clients-table lookup per client id at a time. Requests served at once in one
//! environment that need the same client while its lookup is in flight wait for that lookup's
//! answer instead of sending their own; the next request after it ends looks again (what is
//! remembered longer is [`super::VerificationCache`]'s, for verified callers only).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::store::{ApiClient, ClientLookup, DirectoryError};

/// What a lookup found.
pub type Found = Result<Option<ApiClient>, DirectoryError>;

/// The lookups in flight, by client id. An entry lives while a lookup of its id is awaited:
/// the first caller to leave after the answer, or the last one to leave without it (its
/// deadline passed), takes it out, so the map holds no more ids than requests in flight.
#[derive(Debug, Default)]
pub struct LookupFlights {
    flights: Mutex<HashMap<String, Arc<OnceCell<Found>>>>,
}

impl LookupFlights {
    /// The client `id`, from the lookup in flight for it, or from one this call sends.
    pub async fn find<D: ClientLookup>(&self, directory: &D, id: &str) -> Found {
        let joined = self
            .flights
            .lock()
            .map(|mut flights| Arc::clone(flights.entry(id.to_owned()).or_default()))
            .ok();
        let Some(flight) = joined else {
            return directory.find(id).await;
        };
        let leaving = Leaving {
            flights: &self.flights,
            id,
            flight,
        };
        leaving
            .flight
            .get_or_init(|| directory.find(id))
            .await
            .clone()
    }

    /// How many ids have a lookup in flight.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.flights.lock().map_or(0, |flights| flights.len())
    }
}

/// Takes a flight's entry out when its caller leaves, answered or abandoned.
struct Leaving<'a> {
    flights: &'a Mutex<HashMap<String, Arc<OnceCell<Found>>>>,
    id: &'a str,
    flight: Arc<OnceCell<Found>>,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let Ok(mut flights) = self.flights.lock() else {
            return;
        };
        let ours = flights
            .get(self.id)
            .is_some_and(|entry| Arc::ptr_eq(entry, &self.flight));
        // Held by the map and this caller alone: nobody else awaits it.
        let last = Arc::strong_count(&self.flight) <= 2;
        if ours && (self.flight.initialized() || last) {
            flights.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A directory whose lookups take a while, counted.
    #[derive(Default)]
    struct Slow {
        lookups: AtomicUsize,
    }

    impl ClientLookup for Slow {
        async fn find(&self, id: &str) -> Found {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(ApiClient {
                id: id.to_owned(),
                secret_hash: None,
                enabled: true,
                scopes: Vec::new(),
                customers: Vec::new(),
            }))
        }
    }

    #[tokio::test]
    async fn callers_at_once_share_one_lookup_and_the_next_looks_again() {
        let directory = Slow::default();
        let flights = LookupFlights::default();
        let answers =
            futures_util::future::join_all((0..16).map(|_| flights.find(&directory, "c1"))).await;
        assert!(answers
            .iter()
            .all(|a| matches!(a, Ok(Some(c)) if c.id == "c1")));
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
        let other = flights.find(&directory, "c2").await;
        assert!(matches!(other, Ok(Some(c)) if c.id == "c2"));
        let _ = flights.find(&directory, "c1").await;
        assert_eq!(directory.lookups.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_abandoned_lookup_leaves_nothing_behind() {
        let directory = Slow::default();
        let flights = LookupFlights::default();
        let abandoned =
            tokio::time::timeout(Duration::from_millis(5), flights.find(&directory, "c1")).await;
        assert!(abandoned.is_err());
        assert_eq!(flights.in_flight(), 0);
    }
}
