//! Point reads by key, coalesced: the lookups that arrive while earlier
//! ones are being answered are answered together by one batch read.
//!
//! Many clients asking for one row each is the common load of a read API
//! (`GetPosting` at 64 calls in flight), and there a query per call costs
//! more than the answer: on PostgreSQL a round trip to a backend, on
//! SQLite a hand-off to sqlx's worker thread and back. A [`PointReads`]
//! runs at most `concurrency` batch reads at a time; a lookup that finds
//! one free starts its batch at once (an idle service adds no delay), and
//! the lookups that arrive while all are busy wait and go out together in
//! the next batch, up to `max_keys` of them.
//!
//! A read sees every write that committed before it was asked for: a
//! batch starts after the lookups it carries arrived. When a batch read
//! fails, its lookups are answered with [`Coalesced::Failed`] and the
//! callers read alone, so that each gets its own error.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, OnceLock},
};

use futures::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Reads the values of a set of distinct keys; keys without a value are
/// left out of the map.
pub type Load<K, V> =
    Arc<dyn Fn(Vec<K>) -> BoxFuture<'static, anyhow::Result<HashMap<K, V>>> + Send + Sync>;

/// The answer to one lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Coalesced<V> {
    Found(V),
    Missing,
    /// The batch read failed: read alone.
    Failed,
}

struct Lookup<K, V> {
    key: K,
    answer: oneshot::Sender<Coalesced<V>>,
}

/// Coalesces point reads of `K` into batch reads (see the module).
pub struct PointReads<K, V> {
    load: Load<K, V>,
    concurrency: usize,
    max_keys: usize,
    /// The queue of the task that forms batches, started by the first
    /// lookup (so that building a store needs no runtime). The task ends
    /// when this is dropped.
    queue: OnceLock<mpsc::UnboundedSender<Lookup<K, V>>>,
}

impl<K, V> PointReads<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    pub fn new(concurrency: usize, max_keys: usize, load: Load<K, V>) -> Self {
        Self {
            load,
            concurrency: concurrency.max(1),
            max_keys: max_keys.max(1),
            queue: OnceLock::new(),
        }
    }

    /// The value of `key`, read in a batch with the lookups around it.
    pub async fn get(&self, key: K) -> Coalesced<V> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(form_batches(
                receiver,
                self.load.clone(),
                Arc::new(Semaphore::new(self.concurrency)),
                self.max_keys,
            ));
            sender
        });
        let (answer, answered) = oneshot::channel();
        if queue.send(Lookup { key, answer }).is_err() {
            return Coalesced::Failed;
        }
        answered.await.unwrap_or(Coalesced::Failed)
    }
}

/// Takes a free batch slot, then every lookup waiting (at least one, at
/// most `max_keys`), and reads them in a task of their own.
async fn form_batches<K, V>(
    mut queue: mpsc::UnboundedReceiver<Lookup<K, V>>,
    load: Load<K, V>,
    slots: Arc<Semaphore>,
    max_keys: usize,
) where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_keys {
            match queue.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        let load = load.clone();
        tokio::spawn(async move {
            answer(batch, &load).await;
            drop(slot);
        });
    }
}

async fn answer<K, V>(batch: Vec<Lookup<K, V>>, load: &Load<K, V>)
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    let mut keys: Vec<K> = Vec::with_capacity(batch.len());
    {
        let mut seen = std::collections::HashSet::with_capacity(batch.len());
        for lookup in &batch {
            if seen.insert(&lookup.key) {
                keys.push(lookup.key.clone());
            }
        }
    }
    match load(keys).await {
        Ok(found) => {
            for Lookup { key, answer } in batch {
                let value = found.get(&key).cloned();
                // A caller that stopped waiting dropped its receiver.
                let _ = answer.send(value.map_or(Coalesced::Missing, Coalesced::Found));
            }
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                keys = batch.len(),
                "a coalesced batch read failed; reading alone"
            );
            for lookup in batch {
                let _ = lookup.answer.send(Coalesced::Failed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A load that records each batch of keys and waits for `gate` before
    /// answering, so a test decides when a batch finishes.
    fn gated(
        batches: Arc<Mutex<Vec<Vec<u32>>>>,
        gate: Arc<Semaphore>,
        fail: bool,
    ) -> Load<u32, String> {
        Arc::new(move |keys: Vec<u32>| {
            let batches = batches.clone();
            let gate = gate.clone();
            Box::pin(async move {
                batches.lock().unwrap().push(keys.clone());
                gate.acquire().await?.forget();
                if fail {
                    anyhow::bail!("the database is gone");
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 2 == 0)
                    .map(|k| (k, format!("v{k}")))
                    .collect())
            })
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lookups_that_arrive_while_a_batch_runs_go_out_together() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Semaphore::new(0));
        let reads = Arc::new(PointReads::new(
            1,
            4,
            gated(batches.clone(), gate.clone(), false),
        ));

        // The first lookup starts a batch of its own at once.
        let first = tokio::spawn({
            let reads = reads.clone();
            async move { reads.get(2).await }
        });
        while batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(*batches.lock().unwrap(), vec![vec![2]]);

        // Six more arrive while it runs (one key twice): they wait.
        let later: Vec<_> = [4, 5, 4, 6, 8, 9]
            .into_iter()
            .map(|k| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.get(k).await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(batches.lock().unwrap().len(), 1, "no second batch yet");

        // Once it ends, the waiting lookups go out four at a time, in the
        // order they came, each distinct key read once.
        gate.add_permits(3);
        assert_eq!(first.await.unwrap(), Coalesced::Found("v2".to_owned()));
        let mut answers = Vec::new();
        for handle in later {
            answers.push(handle.await.unwrap());
        }
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec![2], vec![4, 5, 6], vec![8, 9]]
        );
        assert_eq!(
            answers,
            vec![
                Coalesced::Found("v4".to_owned()),
                Coalesced::Missing,
                Coalesced::Found("v4".to_owned()),
                Coalesced::Found("v6".to_owned()),
                Coalesced::Found("v8".to_owned()),
                Coalesced::Missing,
            ]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_batch_tells_each_caller_to_read_alone() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Semaphore::new(10));
        let reads = PointReads::new(2, 8, gated(batches.clone(), gate, true));
        assert_eq!(reads.get(1).await, Coalesced::Failed);
        assert_eq!(reads.get(2).await, Coalesced::Failed);
        assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![2]]);
    }
}
