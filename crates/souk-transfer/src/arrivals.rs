use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use iroh_blobs::Hash;
use tokio::sync::Notify;

/// Which blobs of a download are complete so far, for readers that start before it ends (so a
/// buyer decrypts shards while later ones are still arriving).
#[derive(Debug, Default)]
pub struct Arrivals {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    complete: HashSet<Hash>,
    failed: Option<String>,
}

impl Arrivals {
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_waiters();
    }

    /// `hash` is complete and verified in the store.
    pub fn mark(&self, hash: Hash) {
        self.update(|s| {
            s.complete.insert(hash);
        });
    }

    /// The download ended without every blob: waiters for missing ones get `why`.
    pub fn fail(&self, why: String) {
        self.update(|s| {
            s.failed.get_or_insert(why);
        });
    }

    /// Resolves once `hash` is complete, or with the download's error if it failed first.
    pub async fn wait(&self, hash: Hash) -> Result<(), String> {
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before looking, so a change between the look and the wait is not lost.
            notified.as_mut().enable();
            {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.complete.contains(&hash) {
                    return Ok(());
                }
                if let Some(why) = &state.failed {
                    return Err(why.clone());
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_arrival_or_failure() {
        let arrivals = Arc::new(Arrivals::default());
        let (a, b) = (Hash::new(b"a"), Hash::new(b"b"));
        let waiting = tokio::spawn({
            let arrivals = arrivals.clone();
            async move { arrivals.wait(a).await }
        });
        arrivals.mark(a);
        assert_eq!(waiting.await.expect("join"), Ok(()));
        assert_eq!(arrivals.wait(a).await, Ok(()), "an arrival is remembered");

        let waiting = tokio::spawn({
            let arrivals = arrivals.clone();
            async move { arrivals.wait(b).await }
        });
        arrivals.fail("gone".into());
        assert_eq!(waiting.await.expect("join"), Err("gone".to_owned()));
    }
}
