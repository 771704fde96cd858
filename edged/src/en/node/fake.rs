//! A driver for the executor's unit tests: it runs nothing and calls no
//! program. Each component behaves as its test says (up at once, never up,
//! refused, or whatever state the test sets later), and every start, stop
//! and clean is written down in order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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
}

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
    script: Arc<Mutex<Script>>,
}

impl Running for FakeRunning {
    fn observe(&self) -> Observed {
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
        let state = match behaviour {
            Behaviour::Up => State::Installed,
            Behaviour::Never => State::Installing,
            Behaviour::Refuse => {
                return Err(ComponentError::new(
                    FailureCode::Start,
                    "refused by the test",
                ));
            }
        };
        let observed = Arc::new(Mutex::new(Observed {
            state,
            error: None,
            restarts: 0,
        }));
        script.states.insert(key.clone(), observed.clone());
        Ok(Box::new(FakeRunning {
            key,
            observed,
            script: self.script.clone(),
        }))
    }

    fn clean(&self, dir: &Path) {
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let key = format!("{}/{}", name(dir.parent()), name(Some(dir)));
        locked(&self.script).calls.push(Call::Clean(key));
    }
}
