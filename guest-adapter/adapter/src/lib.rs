//! The guest adapter: OTP-style supervision as a component.
//!
//! Exports `theater:supervision/supervisor` and imports only `theater:simple/runtime`,
//! `theater:simple/supervisor` and `theater:extension/{timer,child-control}`. `wac plug` composes
//! it into a parent actor, so it lives inside the parent's instance: its memory holds the
//! supervisor's bookkeeping across calls, and a restarted parent starts with a fresh adapter
//! and declares its children again, as an OTP supervisor does.
//!
//! Child events arrive through the parent: the host calls the parent's
//! `theater:simple/supervisor-handlers` exports, which delegate to `on-child-*` here. The host
//! never re-enters an actor, so nothing here runs concurrently with anything else.

mod bindings {
    wit_bindgen::generate!({
        world: "theater:supervision/adapter",
        path: ["../../wit", "../../wit/extension", "../../wit/supervision"],
        generate_all,
    });
}

use bindings::exports::theater::supervision::supervisor::{
    Action, ChildCounts, ChildInfo, ChildSpec, ChildStatus, ChildType, Guest, Intensity, Report,
    RestartMode, RestartType, Strategy, SupervisorFlags, WitActorError,
};
use bindings::theater::extension::{child_control, timer};
use bindings::theater::simple::types::WitErrorType;
use bindings::theater::simple::{runtime, supervisor as raw};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The default restart intensity: 3 restarts within 5 s (Elixir's default).
const DEFAULT_INTENSITY: Intensity = Intensity {
    max_restarts: 3,
    period_ms: 5000,
};

/// Prefix of the timer tags this supervisor sets.
const TAG_PREFIX: &str = "theater:supervision/restart/";

struct Adapter;

bindings::export!(Adapter with_types_in bindings);

/// How a child ended, as the host reported it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// `handle-child-error`: abnormal.
    Failed,
    /// `handle-child-exit`: it called `runtime.shutdown` (normal).
    Exited,
    /// `handle-child-external-stop`: stopped gracefully by someone else (OTP's `shutdown`).
    ExternalStop,
}

/// `internal: handle-send returned err: ...`: the error's kind (its WIT name) and its text
/// (UTF-8, lossy).
fn describe(error: &WitActorError) -> String {
    let kind = match error.error_type {
        WitErrorType::OperationTimeout => "operation-timeout",
        WitErrorType::ChannelClosed => "channel-closed",
        WitErrorType::ShuttingDown => "shutting-down",
        WitErrorType::FunctionNotFound => "function-not-found",
        WitErrorType::TypeMismatch => "type-mismatch",
        WitErrorType::Internal => "internal",
        WitErrorType::SerializationError => "serialization-error",
        WitErrorType::UpdateComponentError => "update-component-error",
        WitErrorType::Paused => "paused",
    };
    match &error.data {
        Some(text) => format!("{kind}: {}", String::from_utf8_lossy(text)),
        None => kind.to_string(),
    }
}

impl End {
    fn says(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Exited => "exited",
            Self::ExternalStop => "was stopped from outside",
        }
    }
}

struct Child {
    spec: ChildSpec,
    id: Option<String>,
    status: ChildStatus,
    restarts: u32,
    /// Started with `start-dynamic-child`.
    dynamic: bool,
    /// Times of this child's restarts within the intensity window (the backoff exponent).
    recent: VecDeque<u64>,
}

impl Child {
    fn new(spec: ChildSpec, dynamic: bool) -> Self {
        Self {
            spec,
            id: None,
            status: ChildStatus::Stopped,
            restarts: 0,
            dynamic,
            recent: VecDeque::new(),
        }
    }

    fn info(&self) -> ChildInfo {
        ChildInfo {
            name: self.spec.name.clone(),
            id: self.id.clone(),
            status: self.status,
            restarts: self.restarts,
            restart: self.spec.restart,
            child_type: self.spec.child_type,
        }
    }
}

struct Supervisor {
    flags: SupervisorFlags,
    intensity: Intensity,
    /// `simple-one-for-one`'s template.
    template: Option<ChildSpec>,
    /// In start order.
    children: Vec<Child>,
    /// Times of the supervisor's restarts within the intensity window.
    restarts: VecDeque<u64>,
    /// Ends still to be reported for children this supervisor stopped itself, by child id.
    expected_ends: HashMap<String, u32>,
    /// Scheduled restarts: timer generation -> child names (start order).
    pending: BTreeMap<u64, Vec<String>>,
    timer_generation: u64,
    dynamic_seq: u64,
    rng: u64,
    /// Set when the restart intensity was exceeded: the supervisor is dead.
    gave_up: Option<String>,
}

thread_local! {
    static SUPERVISOR: RefCell<Option<Supervisor>> = const { RefCell::new(None) };
}

/// Runs `f` on the started supervisor.
fn with<T>(f: impl FnOnce(&mut Supervisor) -> Result<T, String>) -> Result<T, String> {
    SUPERVISOR.with_borrow_mut(|s| match s {
        Some(s) => match &s.gave_up {
            Some(why) => Err(format!("the supervisor has given up: {why}")),
            None => f(s),
        },
        None => Err("the supervisor is not started: call `start` first".into()),
    })
}

/// Runs an event on the supervisor; before `start` every event is `ignored` (the parent may have
/// children of its own), after it gave up every event is the same error again.
fn on_event(f: impl FnOnce(&mut Supervisor) -> Result<Report, String>) -> Result<Report, String> {
    if SUPERVISOR.with_borrow(Option::is_none) {
        return Ok(report(None, Action::Ignored));
    }
    with(f)
}

fn log(msg: &str) {
    runtime::log(&format!("supervisor: {msg}"));
}

fn report(child: Option<&str>, action: Action) -> Report {
    Report {
        child: child.map(str::to_string),
        action,
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::OneForOne => "one-for-one",
        Strategy::OneForAll => "one-for-all",
        Strategy::RestForOne => "rest-for-one",
        Strategy::SimpleOneForOne => "simple-one-for-one",
    }
}

impl Supervisor {
    fn new(flags: SupervisorFlags) -> Self {
        let intensity = flags.intensity.unwrap_or(DEFAULT_INTENSITY);
        Self {
            flags,
            intensity,
            template: None,
            children: Vec::new(),
            restarts: VecDeque::new(),
            expected_ends: HashMap::new(),
            pending: BTreeMap::new(),
            timer_generation: 0,
            dynamic_seq: 0,
            rng: timer::now_ms() ^ 0x9e37_79b9_7f4a_7c15,
            gave_up: None,
        }
    }

    /// A child by name, or by its current id.
    fn find(&self, child: &str) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.spec.name == child)
            .or_else(|| {
                self.children
                    .iter()
                    .position(|c| c.id.as_deref() == Some(child))
            })
    }

    /// [`Supervisor::find`], or an error naming the child.
    fn find_or_err(&self, child: &str) -> Result<usize, String> {
        self.find(child)
            .ok_or_else(|| format!("no child `{child}`"))
    }

    fn find_name(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.name == name)
    }

    /// Starts child `i` (spawn, or for a restart: restart-child / resume) and marks it running.
    fn start_instance(&mut self, i: usize) -> Result<String, String> {
        let child = &self.children[i];
        let spec = &child.spec;
        let id = match (&child.id, spec.mode) {
            (Some(old), RestartMode::Resume) => {
                let state = raw::get_child_state(old)?;
                raw::resume(&spec.manifest, state.as_deref())?
            }
            (Some(old), RestartMode::Fresh) => {
                raw::restart_child(old)?;
                old.clone()
            }
            (None, _) => raw::spawn(&spec.manifest, spec.start_bytes.as_deref())?,
        };
        if let Some(ms) = spec.shutdown_ms
            && let Err(e) = child_control::set_shutdown_timeout(&id, ms)
        {
            log(&format!(
                "cannot set the shutdown timeout of `{}`: {e}",
                spec.name
            ));
        }
        let child = &mut self.children[i];
        child.id = Some(id.clone());
        child.status = ChildStatus::Running;
        Ok(id)
    }

    /// Stops child `i` if it runs; its end notification (exactly one is still to come, from
    /// the stop or from the child itself) is then ignored.
    fn stop_instance(&mut self, i: usize) {
        let child = &mut self.children[i];
        if child.status == ChildStatus::Running
            && let Some(id) = &child.id
        {
            if let Err(e) = raw::stop_child(id) {
                log(&format!("`{}` had already ended: {e}", child.spec.name));
            }
            *self.expected_ends.entry(id.clone()).or_default() += 1;
        }
        child.status = ChildStatus::Stopped;
        // A scheduled restart of it is cancelled.
        let name = child.spec.name.clone();
        for names in self.pending.values_mut() {
            names.retain(|n| n != &name);
        }
        self.pending.retain(|_, names| !names.is_empty());
    }

    /// Stops every running child, newest first.
    fn stop_all(&mut self) {
        for i in (0..self.children.len()).rev() {
            self.stop_instance(i);
        }
        self.pending.clear();
    }

    /// Counts one restart against the intensity; false when it is exceeded.
    fn note_restart(&mut self, now: u64) -> bool {
        let window_start = now.saturating_sub(self.intensity.period_ms);
        self.restarts.push_back(now);
        while self.restarts.front().is_some_and(|&t| t < window_start) {
            self.restarts.pop_front();
        }
        self.restarts.len() as u64 <= u64::from(self.intensity.max_restarts)
    }

    /// Stops the children (newest first), marks the supervisor dead and returns the reason.
    fn give_up(&mut self, why: String) -> String {
        let msg = format!(
            "restart intensity exceeded ({why}: more than {} restarts within {} ms); children stopped, newest first",
            self.intensity.max_restarts, self.intensity.period_ms
        );
        log(&msg);
        self.stop_all();
        self.gave_up = Some(msg.clone());
        msg
    }

    /// The backoff delay of child `i`'s restart at `now` (0 without backoff).
    fn backoff_delay(&mut self, i: usize, now: u64) -> u64 {
        let window_start = now.saturating_sub(self.intensity.period_ms);
        let recent = &mut self.children[i].recent;
        recent.push_back(now);
        while recent.front().is_some_and(|&t| t < window_start) {
            recent.pop_front();
        }
        let Some(b) = self.flags.backoff else {
            return 0;
        };
        let n = recent.len().max(1) as u32;
        let base = b
            .initial_ms
            .saturating_mul(1u64 << (n - 1).min(32))
            .min(b.max_ms.max(b.initial_ms));
        let jitter = u64::from(b.jitter_percent.min(100));
        if jitter == 0 || base == 0 {
            return base;
        }
        // xorshift64: good enough to spread restarts apart.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = base * jitter / 100;
        (base - span) + self.rng % (2 * span + 1)
    }

    /// Reacts to the end of a child; `detail` (the error, for a failure) goes into the log line.
    fn on_end(&mut self, id: &str, end: End, detail: Option<&str>) -> Result<Report, String> {
        if let Some(n) = self.expected_ends.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                self.expected_ends.remove(id);
            }
            let name = self.find(id).map(|i| self.children[i].spec.name.clone());
            return Ok(report(name.as_deref(), Action::Ignored));
        }
        let Some(i) = self
            .children
            .iter()
            .position(|c| c.id.as_deref() == Some(id))
        else {
            return Ok(report(None, Action::Ignored));
        };
        let name = self.children[i].spec.name.clone();
        let said = match detail {
            Some(d) => format!("{} ({d})", end.says()),
            None => end.says().to_string(),
        };
        if self.children[i].status != ChildStatus::Running {
            return Ok(report(Some(&name), Action::Ignored));
        }
        let restart = match self.children[i].spec.restart {
            RestartType::Permanent => true,
            RestartType::Transient => end == End::Failed,
            RestartType::Temporary => false,
        };
        if !restart {
            let child = &mut self.children[i];
            child.status = ChildStatus::Stopped;
            if child.spec.restart == RestartType::Temporary || child.dynamic {
                self.children.remove(i);
                log(&format!("`{name}` {}; not restarted, spec removed", said));
                return Ok(report(Some(&name), Action::Removed));
            }
            log(&format!("`{name}` {}; not restarted (transient)", said));
            return Ok(report(Some(&name), Action::KeptDown));
        }
        self.children[i].status = ChildStatus::Stopped;
        self.restart_from(i, &format!("`{name}` {said}"))
    }

    /// Restarts child `i` and, by the strategy, its siblings; with backoff, schedules it.
    fn restart_from(&mut self, i: usize, why: &str) -> Result<Report, String> {
        let name = self.children[i].spec.name.clone();
        let now = timer::now_ms();
        if !self.note_restart(now) {
            return Err(self.give_up(why.to_string()));
        }
        let strategy = self.flags.strategy;
        let others: Vec<usize> = match strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => Vec::new(),
            Strategy::OneForAll => (0..self.children.len()).filter(|&j| j != i).collect(),
            Strategy::RestForOne => (i + 1..self.children.len()).collect(),
        };
        let others: Vec<usize> = others
            .into_iter()
            .filter(|&j| self.children[j].status == ChildStatus::Running)
            .collect();
        for &j in others.iter().rev() {
            self.stop_instance(j);
        }
        let mut set: Vec<usize> = others;
        set.push(i);
        set.sort_unstable();
        let names: Vec<String> = set
            .iter()
            .map(|&j| self.children[j].spec.name.clone())
            .collect();
        // Temporary siblings stopped by the strategy are not restarted (as in OTP).
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| {
                let j = self.find_name(n).expect("listed above");
                let keep = *n == name || self.children[j].spec.restart != RestartType::Temporary;
                if !keep {
                    self.children.remove(j);
                }
                keep
            })
            .collect();
        for n in &names {
            if let Some(j) = self.find_name(n) {
                self.children[j].status = ChildStatus::Restarting;
            }
        }
        let i = self.find_name(&name).expect("the child itself is kept");
        let delay = self.backoff_delay(i, now);
        log(&format!(
            "{why}: restarting {} ({}){}",
            names.join(", "),
            strategy_name(strategy),
            if delay > 0 {
                format!(" in {delay} ms")
            } else {
                String::new()
            }
        ));
        if delay > 0 {
            return self.schedule(names, delay, &name);
        }
        self.restart_names(names, &name)
    }

    fn schedule(&mut self, names: Vec<String>, delay: u64, child: &str) -> Result<Report, String> {
        self.timer_generation += 1;
        let generation = self.timer_generation;
        timer::set_timer(delay, &format!("{TAG_PREFIX}{generation}"))
            .map_err(|e| format!("cannot schedule the restart of `{child}`: {e}"))?;
        self.pending.insert(generation, names);
        Ok(report(Some(child), Action::Scheduled(delay)))
    }

    /// Starts the named children again, in order. A restart that fails counts as one more
    /// restart (and so may exceed the intensity); with backoff the rest is scheduled again.
    fn restart_names(&mut self, names: Vec<String>, child: &str) -> Result<Report, String> {
        let mut done = Vec::new();
        let mut k = 0;
        while k < names.len() {
            let Some(i) = self.find_name(&names[k]) else {
                k += 1; // deleted or terminated meanwhile
                continue;
            };
            if self.children[i].status != ChildStatus::Restarting {
                k += 1;
                continue;
            }
            match self.start_instance(i) {
                Ok(_) => {
                    self.children[i].restarts += 1;
                    done.push(names[k].clone());
                    k += 1;
                }
                Err(e) => {
                    let why = format!("restart of `{}` failed ({e})", names[k]);
                    log(&why);
                    let now = timer::now_ms();
                    if !self.note_restart(now) {
                        return Err(self.give_up(why));
                    }
                    let delay = self.backoff_delay(i, now);
                    if delay > 0 {
                        return self.schedule(names[k..].to_vec(), delay, child);
                    }
                }
            }
        }
        if !done.is_empty() {
            log(&format!("restarted {}", done.join(", ")));
        }
        Ok(report(Some(child), Action::Restarted(done)))
    }

    fn on_timer(&mut self, tag: &str) -> Result<Report, String> {
        let Some(generation) = tag
            .strip_prefix(TAG_PREFIX)
            .and_then(|g| g.parse::<u64>().ok())
        else {
            return Ok(report(None, Action::Ignored));
        };
        let Some(names) = self.pending.remove(&generation) else {
            return Ok(report(None, Action::Ignored)); // cancelled
        };
        let first = names.first().cloned().unwrap_or_default();
        self.restart_names(names, &first)
    }

    fn add_and_start(&mut self, spec: ChildSpec, dynamic: bool) -> Result<String, String> {
        if self.find_name(&spec.name).is_some() {
            return Err(format!("a child named `{}` already exists", spec.name));
        }
        let name = spec.name.clone();
        self.children.push(Child::new(spec, dynamic));
        let i = self.children.len() - 1;
        match self.start_instance(i) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.children.pop();
                Err(format!("child `{name}` failed to start: {e}"))
            }
        }
    }
}

impl Guest for Adapter {
    fn start(flags: SupervisorFlags, children: Vec<ChildSpec>) -> Result<(), String> {
        if SUPERVISOR.with_borrow(Option::is_some) {
            return Err("the supervisor is already started".into());
        }
        let mut sup = Supervisor::new(flags);
        if sup.flags.strategy == Strategy::SimpleOneForOne {
            let [template] = <[ChildSpec; 1]>::try_from(children).map_err(|c| {
                format!(
                    "simple-one-for-one takes exactly one child spec (the template), not {}",
                    c.len()
                )
            })?;
            sup.template = Some(template);
        } else {
            for spec in children {
                if let Err(e) = sup.add_and_start(spec, false) {
                    sup.stop_all();
                    return Err(e);
                }
            }
        }
        log(&format!(
            "started ({}, intensity {} in {} ms, {} children)",
            strategy_name(sup.flags.strategy),
            sup.intensity.max_restarts,
            sup.intensity.period_ms,
            sup.children.len()
        ));
        SUPERVISOR.set(Some(sup));
        Ok(())
    }

    fn start_child(spec: ChildSpec) -> Result<String, String> {
        with(|s| {
            if s.flags.strategy == Strategy::SimpleOneForOne {
                return Err("simple-one-for-one: use start-dynamic-child".into());
            }
            s.add_and_start(spec, false)
        })
    }

    fn start_dynamic_child(start_bytes: Option<Vec<u8>>) -> Result<String, String> {
        with(|s| {
            let Some(template) = s.template.clone() else {
                return Err("start-dynamic-child needs a simple-one-for-one supervisor".into());
            };
            let live = s
                .children
                .iter()
                .filter(|c| c.status != ChildStatus::Stopped)
                .count();
            let max = s.flags.max_children;
            if max > 0 && live >= max as usize {
                return Err(format!(
                    "max-children reached: {live} dynamic children of `{}` are alive (at most {max})",
                    template.name
                ));
            }
            s.dynamic_seq += 1;
            let spec = ChildSpec {
                name: format!("{}-{}", template.name, s.dynamic_seq),
                start_bytes: start_bytes.or(template.start_bytes.clone()),
                ..template
            };
            s.add_and_start(spec, true)
        })
    }

    fn terminate_child(child: String) -> Result<(), String> {
        with(|s| {
            let i = s.find_or_err(&child)?;
            s.stop_instance(i);
            if s.children[i].dynamic {
                s.children.remove(i);
            }
            Ok(())
        })
    }

    fn restart_child(child: String) -> Result<String, String> {
        with(|s| {
            let i = s.find_or_err(&child)?;
            match s.children[i].status {
                ChildStatus::Running => Err(format!("child `{child}` is running")),
                ChildStatus::Restarting => Err(format!("child `{child}` is restarting")),
                ChildStatus::Stopped => {
                    let id = s.start_instance(i)?;
                    s.children[i].restarts += 1;
                    Ok(id)
                }
            }
        })
    }

    fn delete_child(child: String) -> Result<(), String> {
        with(|s| {
            let i = s.find_or_err(&child)?;
            if s.children[i].dynamic {
                return Err("dynamic children cannot be deleted: terminate them".into());
            }
            match s.children[i].status {
                ChildStatus::Stopped => {
                    s.children.remove(i);
                    Ok(())
                }
                ChildStatus::Running => Err(format!("child `{child}` is running")),
                ChildStatus::Restarting => Err(format!("child `{child}` is restarting")),
            }
        })
    }

    fn which_children() -> Vec<ChildInfo> {
        SUPERVISOR.with_borrow(|s| {
            s.as_ref()
                .map(|s| s.children.iter().map(Child::info).collect())
                .unwrap_or_default()
        })
    }

    fn count_children() -> ChildCounts {
        SUPERVISOR.with_borrow(|s| {
            let mut counts = ChildCounts {
                specs: 0,
                active: 0,
                restarting: 0,
                supervisors: 0,
                workers: 0,
            };
            for c in s.iter().flat_map(|s| &s.children) {
                counts.specs += 1;
                match c.status {
                    ChildStatus::Running => counts.active += 1,
                    ChildStatus::Restarting => counts.restarting += 1,
                    ChildStatus::Stopped => {}
                }
                match c.spec.child_type {
                    ChildType::Supervisor => counts.supervisors += 1,
                    ChildType::Worker => counts.workers += 1,
                }
            }
            counts
        })
    }

    fn stop_children() -> Result<(), String> {
        with(|s| {
            s.stop_all();
            Ok(())
        })
    }

    fn on_child_error(child_id: String, error: WitActorError) -> Result<Report, String> {
        let detail = describe(&error);
        on_event(|s| s.on_end(&child_id, End::Failed, Some(&detail)))
    }

    fn on_child_exit(child_id: String, _data: Option<Vec<u8>>) -> Result<Report, String> {
        on_event(|s| s.on_end(&child_id, End::Exited, None))
    }

    fn on_child_external_stop(child_id: String) -> Result<Report, String> {
        on_event(|s| s.on_end(&child_id, End::ExternalStop, None))
    }

    fn on_timer(tag: String) -> Result<Report, String> {
        if !tag.starts_with(TAG_PREFIX) {
            return Ok(report(None, Action::Ignored));
        }
        on_event(|s| s.on_timer(&tag))
    }
}
