//! Stopping an actor: from outside (its parent, the host API, its parent stopping, a restart)
//! or by itself (shutdown, failure); children first, newest first; the chain closed; the
//! handlers told once the end is durable.

use super::*;

impl SystemInner {
    /// Stops a live actor from outside its own task: no new messages, the in-flight call may
    /// finish within the shutdown timeout (then it is killed), children stop first in reverse
    /// start order, and a final event closes the chain. Returns once it is gone.
    #[tracing::instrument(skip(self))]
    /// `Ok(false)` means it ended by itself while we waited (its own exit is what gets reported).
    pub(crate) async fn stop_actor(
        self: &Arc<Self>,
        id: &str,
        reason: StopReason,
    ) -> HostResult<bool> {
        let (stop_tx, join, chain, name, parent) = loop {
            let mut rx = {
                let mut reg = self.lock();
                let rec = reg
                    .actors
                    .get_mut(id)
                    .ok_or_else(|| HostError::UnknownActor(id.to_string()))?;
                match rec.status {
                    ActorStatus::Running => {
                        rec.set_status(ActorStatus::Stopping);
                        rec.mailbox = None;
                        break (
                            rec.stop_tx.take(),
                            rec.join.take(),
                            rec.chain.clone(),
                            rec.name.clone(),
                            rec.parent.clone(),
                        );
                    }
                    ActorStatus::Stopped | ActorStatus::Failed => {
                        return Err(
                            format!("actor `{id}` is not running (it already stopped)").into()
                        );
                    }
                    ActorStatus::Starting | ActorStatus::Stopping => rec.status_tx.subscribe(),
                }
            };
            // Someone else is starting or stopping it: wait for that to settle, then look again.
            let _ = rx
                .wait_for(|s| !matches!(s, ActorStatus::Starting | ActorStatus::Stopping))
                .await;
            if reason != StopReason::Restart
                && self.status(id).is_some_and(ActorStatus::is_terminal)
            {
                return Ok(false);
            }
        };
        record(
            &chain,
            "lifecycle.stopping",
            EventData::new().str("reason", reason.name()),
            format!("stopping ({})", reason.name()),
        );
        let end = End::Stopped(reason);
        self.lifecycle(&Lifecycle::Stopping(&end), id, &name, parent.as_deref());
        if let Some(tx) = stop_tx {
            let _ = tx.send(());
        }
        if let Some(mut join) = join {
            let timeout = self.shutdown_timeout_of(id);
            if tokio::time::timeout(timeout, &mut join).await.is_err() {
                join.abort();
                let _ = join.await;
                record(
                    &chain,
                    "lifecycle.killed",
                    EventData::new().u64("after_ms", timeout.as_millis() as u64),
                    "in-flight call did not finish within the shutdown timeout; killed".into(),
                );
            }
        }
        self.teardown(id, end.clone(), reason == StopReason::Restart)
            .await;
        // A stop by the parent or from outside is reported once it is durable, by the caller.
        if matches!(reason, StopReason::ParentStopping | StopReason::Restart) {
            self.lifecycle(&Lifecycle::Stopped(&end), id, &name, parent.as_deref());
        }
        Ok(true)
    }

    /// Tells the handlers that `id` was stopped for `reason` (after the stop is durable).
    pub(super) fn stopped(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        parent: Option<&str>,
        reason: StopReason,
    ) {
        self.lifecycle(&Lifecycle::Stopped(&End::Stopped(reason)), id, name, parent);
    }

    pub(super) fn status(&self, id: &str) -> Option<ActorStatus> {
        self.lock().actors.get(id).map(|r| r.status)
    }

    /// Stops the children (reverse start order), closes the chain, marks the actor terminal and
    /// unlinks it from its parent (unless it is about to be restarted in place).
    pub(super) async fn teardown(self: &Arc<Self>, id: &str, terminal: End, keep_link: bool) {
        self.end_messaging(id, &terminal, keep_link);
        let children = self
            .lock()
            .actors
            .get(id)
            .map(|r| r.children.ids())
            .unwrap_or_default();
        if !children.is_empty() {
            let order: Vec<&String> = children.iter().rev().collect();
            if let Some(chain) = self.lock().actors.get(id).map(|r| r.chain.clone()) {
                record(
                    &chain,
                    "lifecycle.stopping-children",
                    EventData::new().strs("children", order.iter().map(|s| s.as_str())),
                    format!("stopping {} children, newest first", order.len()),
                );
            }
        }
        for c in children.iter().rev() {
            if let Err(e) = Box::pin(self.stop_actor(c, StopReason::ParentStopping)).await {
                tracing::debug!(child = %c, error = %e, "child already gone while stopping its parent");
            }
        }
        let (chain, parent) = {
            let reg = self.lock();
            let Some(rec) = reg.actors.get(id) else {
                return;
            };
            (rec.chain.clone(), rec.parent.clone())
        };
        let (status, outcome) = match &terminal {
            End::Stopped(reason) => {
                let reason = reason.name();
                record(
                    &chain,
                    "lifecycle.stopped",
                    EventData::new().str("reason", reason),
                    format!("stopped ({reason})"),
                );
                (ActorStatus::Stopped, RootOutcome::Stopped)
            }
            End::Shutdown(data) => {
                record(
                    &chain,
                    "lifecycle.stopped",
                    EventData::new()
                        .str("reason", "shutdown")
                        .summary("data", data.as_deref()),
                    "stopped (runtime.shutdown)".into(),
                );
                (ActorStatus::Stopped, RootOutcome::Shutdown(data.clone()))
            }
            End::Failed(f) => {
                record(
                    &chain,
                    "lifecycle.failed",
                    EventData::new()
                        .str("error_type", f.kind.name())
                        .str("error", &f.message),
                    "failed".into(),
                );
                (ActorStatus::Failed, RootOutcome::Failed(f.message.clone()))
            }
        };
        {
            let mut reg = self.lock();
            if let Some(rec) = reg.actors.get_mut(id) {
                rec.mailbox = None;
                rec.children.clear();
                rec.set_status(status);
            }
            self.live.fetch_sub(1, Ordering::SeqCst);
            if !keep_link {
                reg.ended(
                    id,
                    self.config.retain_stopped,
                    self.config.storage.is_some(),
                );
            }
            if !keep_link && let Some(p) = parent.as_ref().and_then(|p| reg.actors.get_mut(p)) {
                p.children.remove(id);
            }
        }
        if parent.is_none()
            && !keep_link
            && self
                .root
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_deref()
                == Some(id)
        {
            // A store failure set the outcome first: keep that reason.
            self.root_outcome.send_if_modified(|o| {
                if o.is_none() {
                    *o = Some(outcome);
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Its last call has returned: its channels close (the other ends are told) and its
    /// outstanding requests end with `err` (CONTRACT §7).
    pub(super) fn end_messaging(&self, id: &str, terminal: &End, restart: bool) {
        let Some((name, chain)) = self
            .lock()
            .actors
            .get(id)
            .map(|r| (r.name.clone(), r.chain.clone()))
        else {
            return;
        };
        let how = match terminal {
            _ if restart => "restarted",
            End::Failed(_) => "failed",
            _ => "stopped",
        };
        self.messaging.actor_ending(id, &name, &chain, how);
    }

    /// Called by an actor's own task when it ended by itself (shutdown or failure).
    pub(super) async fn finish_self(self: &Arc<Self>, id: &str, exit: Exit) {
        let end = match exit {
            Exit::StopRequested => return,
            Exit::Shutdown(data) => End::Shutdown(data),
            Exit::Failed(f) => End::Failed(f),
        };
        let (parent, name, chain) = {
            let mut reg = self.lock();
            let Some(rec) = reg.actors.get_mut(id) else {
                return;
            };
            if rec.status != ActorStatus::Running {
                return; // someone else is stopping it and finishes the teardown
            }
            rec.set_status(ActorStatus::Stopping);
            rec.mailbox = None;
            rec.stop_tx = None;
            // Its own task runs this: kept so `shutdown` can wait until it finished.
            let join = rec.join.take();
            let out = (rec.parent.clone(), rec.name.clone(), rec.chain.clone());
            if let Some(join) = join {
                reg.finishing.retain(|j| !j.is_finished());
                reg.finishing.push(join);
            }
            out
        };
        let reason = end.reason();
        record(
            &chain,
            "lifecycle.stopping",
            EventData::new().str("reason", reason),
            format!("stopping ({reason})"),
        );
        self.lifecycle(&Lifecycle::Stopping(&end), id, &name, parent.as_deref());
        self.teardown(id, end.clone(), false).await;
        if let Err(e) = self.durable().await {
            // Telling the parent would let it act on what the store does not hold; the store
            // failing stops the whole tree anyway.
            tracing::error!(%id, error = %e, "child's end not stored; its parent is not told");
            return;
        }
        // The supervisor handler tells the parent (handle-child-error / handle-child-exit).
        self.lifecycle(&Lifecycle::Stopped(&end), id, &name, parent.as_deref());
    }

    /// How long `id`'s in-flight call may run when it is stopped.
    pub(super) fn shutdown_timeout_of(&self, id: &str) -> Duration {
        let own = self.lock().actors.get(id).and_then(|r| r.shutdown_timeout);
        own.unwrap_or(self.config.shutdown_timeout)
    }
}

impl ActorSystem {
    /// Stops an actor from outside; its parent then gets `handle-child-external-stop`.
    pub async fn stop_actor(&self, id: &str) -> Result<(), SystemError> {
        let known = self
            .inner
            .lock()
            .actors
            .get(id)
            .map(|r| (r.name.clone(), r.parent.clone()));
        let by_us = self
            .inner
            .stop_actor(id, StopReason::External)
            .await
            .map_err(SystemError::from)?;
        self.inner.durable().await.map_err(SystemError::from)?;
        if let Some((name, parent)) = known.filter(|_| by_us) {
            // The supervisor handler tells the parent (handle-child-external-stop).
            self.inner
                .stopped(id, &name, parent.as_deref(), StopReason::External);
        }
        Ok(())
    }

    /// Stops every live root actor (and so the whole tree) from outside.
    pub async fn shutdown(&self) {
        let roots: Vec<ActorInfo> = self
            .actors()
            .into_iter()
            .filter(|a| a.parent.is_none() && !a.status.is_terminal())
            .collect();
        for root in roots {
            if let Ok(true) = self.inner.stop_actor(&root.id, StopReason::External).await {
                self.inner
                    .stopped(&root.id, &root.name, None, StopReason::External);
            }
        }
        // Actors that ended by themselves meanwhile finish their own teardown (and commit it).
        loop {
            let finishing = std::mem::take(&mut self.inner.lock().finishing);
            if finishing.is_empty() {
                break;
            }
            for join in finishing {
                let _ = join.await;
            }
        }
    }
}
