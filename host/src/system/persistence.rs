//! What the system keeps in the event store: each actor's state, the durability barrier of
//! supervisor operations, the store's failure, and chains and records read back from it.

use super::*;

impl SystemInner {
    /// Records the latest state of an actor.
    pub fn set_state(&self, id: &str, state: Option<Vec<u8>>) {
        if let Some(r) = self.lock().actors.get_mut(id) {
            if let Some(sink) = &r.sink {
                sink.storage.write(StoreWrite::State {
                    actor: id.to_string(),
                    state: state.clone(),
                });
            }
            r.state = state;
        }
    }

    /// Closes the stored record of an actor that is not brought back: a `lifecycle.failed`
    /// event continuing its stored chain, and status `failed`.
    pub(super) fn close_stored(&self, a: &StoredActor, tail: Vec<ChainEvent>, why: &str) {
        let Some(storage) = &self.config.storage else {
            return;
        };
        let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
            actor: a.id.clone(),
            storage: storage.clone(),
        });
        let chain = Mutex::new(Chain::restore(tail, a.next_index, Some(sink), 0));
        record(
            &chain,
            "lifecycle.failed",
            EventData::new()
                .str("stage", "recovery")
                .str("error_type", "internal")
                .str("error", why),
            "not brought back after a host restart".into(),
        );
        storage.write(StoreWrite::Status {
            actor: a.id.clone(),
            status: ActorStatus::Failed,
            restarts: a.restarts,
        });
    }

    /// Waits until everything recorded so far is in the store (no-op without a store). While
    /// a failing store retries, this waits; once the store has failed for good it is `Err` with
    /// the store's error, for the operation to return.
    pub(crate) async fn durable(&self) -> HostResult<()> {
        let Some(storage) = &self.config.storage else {
            return Ok(());
        };
        match storage.sync().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // A store that is not failed refused a write of a tree this host no longer
                // owns (a shared store's lease moved on): this tree is being dropped, the
                // others go on.
                if !matches!(
                    &*storage.health().borrow(),
                    crate::store::StoreHealth::Failed(_)
                ) {
                    // The tree is being dropped on this host (`abandon_tree` aborts the task
                    // this runs in, in a moment): the guest must not act on this error (no
                    // callbacks, no failing root, CONTRACT §9). Should the task live on, the
                    // error is returned after a while.
                    tokio::time::sleep(ABANDON_GRACE).await;
                    return Err(HostError::Store(format!(
                        "this operation is not recorded: {e}"
                    )));
                }
                // Before anyone acts on the error (a root failing because its spawn failed):
                // the tree's outcome is the store's failure.
                self.mark_store_failed(&e);
                Err(HostError::Store(format!(
                    "event store failed, so this operation is not recorded durably: {e}"
                )))
            }
            Err(_) => Err(HostError::Store(
                "event store is closed, so this operation is not recorded durably".into(),
            )),
        }
    }

    /// Refuses new starts once the store failed for good.
    pub(super) fn check_store(&self) -> HostResult<()> {
        match self.store_failed.get() {
            Some(e) => Err(format!(
                "event store failed, so no actor can start (nothing it did could be recorded): {e}"
            )
            .into()),
            None => Ok(()),
        }
    }

    /// Notes that the store failed for good: no more starts, and the first root's outcome
    /// (unless it already ended) is the store's failure.
    pub(super) fn mark_store_failed(&self, why: &str) {
        if self.store_failed.set(why.to_string()).is_err() {
            return;
        }
        self.root_outcome.send_if_modified(|o| {
            if o.is_none() {
                *o = Some(RootOutcome::StoreFailed(why.to_string()));
                true
            } else {
                false
            }
        });
    }

    /// The store failed for good: nothing can be recorded any more, so every actor stops (roots
    /// first as an external stop, their trees with them) and the first root's outcome says why.
    pub(super) async fn on_store_failed(self: &Arc<Self>, why: String) {
        self.mark_store_failed(&why);
        tracing::error!(error = %why, "event store failed: stopping every actor");
        let roots: Vec<ActorId> = {
            let reg = self.lock();
            reg.order
                .iter()
                .filter(|id| {
                    reg.actors
                        .get(*id)
                        .is_some_and(|r| r.parent.is_none() && !r.status.is_terminal())
                })
                .cloned()
                .collect()
        };
        for id in roots {
            let _ = self.stop_actor(&id, StopReason::External).await;
        }
    }

    /// Every event of `chain` (the actor `id`'s), reading the ones no longer in memory from the
    /// store after a durability barrier (so they are all there), off the async workers.
    pub(crate) async fn full_chain_async(&self, id: &str, chain: &Mutex<Chain>) -> Vec<ChainEvent> {
        let (dropped, tail) = {
            let c = chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.dropped(), c.events().to_vec())
        };
        if dropped == 0 || self.config.storage.is_none() {
            return tail;
        }
        if let Err(e) = self.durable().await {
            tracing::error!(%id, error = %e, "older chain events cannot be read back");
            return tail;
        }
        let actor = id.to_string();
        match self.read_store(move |s| s.events(&actor, 0)).await {
            Ok(mut stored) if stored.len() as u64 >= dropped => {
                stored.truncate(dropped as usize);
                stored.extend(tail);
                stored
            }
            Ok(stored) => {
                tracing::error!(%id, stored = stored.len(), dropped, "older chain events are missing from the store");
                tail
            }
            Err(e) => {
                tracing::error!(%id, error = %e, "cannot read a chain from the store");
                tail
            }
        }
    }

    /// Every event of `chain` (the actor `id`'s), reading the ones no longer in memory from the
    /// store; for the synchronous embedding API ([`ActorSystem::chain`]): it may wait (at most
    /// 5 s) for the writer to commit them. Host calls use [`Self::full_chain_async`].
    pub(crate) fn full_chain(&self, id: &str, chain: &Mutex<Chain>) -> Vec<ChainEvent> {
        let (dropped, tail) = {
            let c = chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.dropped(), c.events().to_vec())
        };
        if dropped == 0 {
            return tail;
        }
        let Some(storage) = &self.config.storage else {
            return tail;
        };
        // The dropped events were queued to the store before the newer ones; the writer
        // commits within milliseconds. Wait (bounded) until they are all readable.
        for _ in 0..5_000 {
            match storage.events(id, 0) {
                Ok(mut stored) if stored.len() as u64 >= dropped => {
                    stored.truncate(dropped as usize);
                    stored.extend(tail);
                    return stored;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a chain from the store");
                    return tail;
                }
            }
        }
        tracing::error!(%id, "older chain events did not reach the store in time");
        tail
    }

    /// Runs a store read on tokio's blocking pool (SQLite reads block; an async worker must not).
    pub(super) async fn read_store<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn Storage) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> HostResult<T> {
        let storage = self
            .config
            .storage
            .clone()
            .ok_or_else(|| HostError::Store("no event store".into()))?;
        let read = tokio::task::spawn_blocking(move || read(storage.as_ref()))
            .await
            .map_err(|e| HostError::Store(format!("event store read panicked: {e}")))?;
        Ok(read?)
    }

    /// A child whose record was dropped from memory (`retain_stopped`), from the store.
    pub(super) async fn stored_child(&self, caller: &str, child: &str) -> HostResult<StoredActor> {
        let missing = || HostError::UnknownChild(child.to_string());
        if self.config.storage.is_none() {
            return Err(match self.lock().dropped.get(child) {
                Some(parent) if parent.as_deref() != Some(caller) => {
                    HostError::NotYourChild(child.to_string())
                }
                Some(_) => HostError::Refused(format!(
                    "the record of child `{}` was dropped from memory: without an event store the host keeps the last state and chain of only the newest {} ended actors (SystemConfig::retain_stopped); run with a store (`run --data DIR`) to keep every record",
                    short_id(child),
                    self.config.retain_stopped
                )),
                None => missing(),
            });
        }
        let id = child.to_string();
        let a = self
            .read_store(move |s| s.actor(&id))
            .await?
            .ok_or_else(missing)?;
        if a.parent.as_deref() != Some(caller) {
            return Err(HostError::NotYourChild(child.to_string()));
        }
        Ok(a)
    }
}

impl ActorSystem {
    /// Stops every actor when the store reports it failed for good (needs a tokio runtime,
    /// which every actor needs anyway).
    pub(super) fn watch_store(
        inner: &Arc<SystemInner>,
        mut health: watch::Receiver<crate::store::StoreHealth>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: the event store's health is not watched");
            return;
        };
        let weak = Arc::downgrade(inner);
        runtime.spawn(async move {
            let why = loop {
                if let crate::store::StoreHealth::Failed(e) = &*health.borrow_and_update() {
                    break e.clone();
                }
                if health.changed().await.is_err() {
                    return;
                }
            };
            if let Some(inner) = weak.upgrade() {
                inner.on_store_failed(why).await;
            }
        });
    }
}

/// Where a manifest came from, for the store.
pub(super) fn stored_manifest(m: &Manifest) -> StoredManifest {
    match (&m.path, &m.inline_text) {
        (Some(p), _) => StoredManifest::Path(p.clone()),
        (None, text) => StoredManifest::Inline {
            text: text.clone().unwrap_or_default(),
            dir: m.dir.clone(),
        },
    }
}

/// How long an operation whose write was refused because the tree's lease moved on waits for
/// this host to drop the tree before it returns the refusal.
const ABANDON_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
