//! A driver for the executor's unit tests: it runs nothing and calls no
//! program. Each component behaves as its test says (up at once, never up,
//! refused, or whatever state the test sets later), and every start, stop
//! and clean is written down in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use edge_model::ProfileType;
use edge_model::status::State;
use edge_runtime::driver::{Driver, Observed, Running, Workload};
use edge_runtime::{ComponentError, FailureCode};

/// How a component behaves when started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    /// Runs at once.
    Up,
    /// Stays `installing` for ever.
    Never,
    /// The driver refuses to start it (`START`).
    Refuse,
    /// Crash-looping from the start, given up on (`GAVE_UP`).
    GiveUp,
    /// Crashed once while starting (`EXITED`, one restart), then runs
    /// from [`CRASH`] on.
    CrashOnce,
    /// Seen running for an instant (a millisecond), then a crash loop
    /// given up on: a module that uses up its fuel at once.
    FailsAtOnce,
}

/// How long a [`Behaviour::CrashOnce`] component stays down.
pub(super) const CRASH: Duration = Duration::from_millis(100);

/// What the driver was asked to do, `deployment/component` each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Call {
    Start(String),
    Stop(String),
    Clean(String),
}

#[derive(Default)]
struct Script {
    behaviour: HashMap<String, Behaviour>,
    calls: Vec<Call>,
    /// What each started component observes, by `deployment/component`.
    states: HashMap<String, Arc<Mutex<Observed>>>,
}

/// The fake driver; clones share their script.
#[derive(Clone)]
pub(super) struct FakeDriver {
    kind: ProfileType,
    script: Arc<Mutex<Script>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeDriver {
    /// A driver of `process` components that all come up at once.
    pub(super) fn new() -> Self {
        Self {
            kind: ProfileType::Process,
            script: Arc::default(),
        }
    }

    /// Component `name` (of any deployment) behaves as `b` from its next start.
    pub(super) fn behave(&self, name: &str, b: Behaviour) {
        locked(&self.script).behaviour.insert(name.to_owned(), b);
    }

    /// Every call so far, in order.
    pub(super) fn calls(&self) -> Vec<Call> {
        locked(&self.script).calls.clone()
    }

    /// What started component `key` (`deployment/component`) observes from now on.
    pub(super) fn set(
        &self,
        key: &str,
        state: State,
        error: Option<ComponentError>,
        restarts: u32,
    ) {
        let s = locked(&self.script).states.get(key).cloned();
        let s = s.unwrap_or_else(|| panic!("{key} was never started"));
        *locked(&s) = Observed {
            state,
            error,
            restarts,
        };
    }
}

struct FakeRunning {
    key: String,
    observed: Arc<Mutex<Observed>>,
    /// What it observes from a moment on, unless the test set it before.
    later: Mutex<Option<(Instant, Observed)>>,
    script: Arc<Mutex<Script>>,
}

impl Running for FakeRunning {
    fn observe(&self) -> Observed {
        let mut later = locked(&self.later);
        if let Some((at, o)) = later.as_ref()
            && Instant::now() >= *at
        {
            *locked(&self.observed) = o.clone();
            *later = None;
        }
        locked(&self.observed).clone()
    }

    fn stop(self: Box<Self>, _grace: Duration) -> Observed {
        locked(&self.script)
            .calls
            .push(Call::Stop(self.key.clone()));
        let restarts = locked(&self.observed).restarts;
        Observed {
            state: State::Removed,
            error: None,
            restarts,
        }
    }
}

impl Driver for FakeDriver {
    fn kind(&self) -> ProfileType {
        self.kind
    }

    fn unavailable(&self) -> Option<String> {
        None
    }

    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError> {
        let key = format!("{}/{}", w.deployment, w.component.name);
        let mut script = locked(&self.script);
        script.calls.push(Call::Start(key.clone()));
        let behaviour = script
            .behaviour
            .get(&w.component.name)
            .copied()
            .unwrap_or(Behaviour::Up);
        let observed = |state, error: Option<(FailureCode, &str)>, restarts| Observed {
            state,
            error: error.map(|(code, message)| ComponentError::new(code, message)),
            restarts,
        };
        let (now, later) = match behaviour {
            Behaviour::Up => (observed(State::Installed, None, 0), None),
            Behaviour::Never => (observed(State::Installing, None, 0), None),
            Behaviour::Refuse => {
                return Err(ComponentError::new(
                    FailureCode::Start,
                    "refused by the test",
                ));
            }
            Behaviour::GiveUp => (
                observed(
                    State::Failed,
                    Some((FailureCode::GaveUp, "exited; gave up after 10 restarts")),
                    10,
                ),
                None,
            ),
            Behaviour::CrashOnce => (
                observed(
                    State::Failed,
                    Some((FailureCode::Exited, "exited; restarting")),
                    1,
                ),
                Some((Instant::now() + CRASH, observed(State::Installed, None, 1))),
            ),
            Behaviour::FailsAtOnce => (
                observed(State::Installed, None, 0),
                Some((
                    Instant::now() + Duration::from_millis(1),
                    observed(
                        State::Failed,
                        Some((FailureCode::GaveUp, "out of fuel; gave up after 3 restarts")),
                        3,
                    ),
                )),
            ),
        };
        let now = Arc::new(Mutex::new(now));
        script.states.insert(key.clone(), now.clone());
        Ok(Box::new(FakeRunning {
            key,
            observed: now,
            later: Mutex::new(later),
            script: self.script.clone(),
        }))
    }

    fn clean(&self, deployment: &str, component: &str) {
        let key = format!("{deployment}/{component}");
        locked(&self.script).calls.push(Call::Clean(key));
    }
}
