//! The `wasm` driver (an edgectl extension of Margo): WASI preview 1 modules
//! (`.wasm`, or `.wat` text) run by an embedded wasmtime, one thread each.
//! Parameters become environment variables, standard output and error go to
//! the component's log file, memory is capped (the node's default, or the
//! component's `x-edgectl-extensions.limits.memoryBytes`), a run may be
//! given `fuel` (wasmtime's instruction budget; used up, the run is `failed`
//! with code `FUEL`), and a stop interrupts the module at its next epoch
//! check (a ticker advances the epoch every 10 ms while any module runs, and
//! sleeps while none does).
//!
//! A module that returns or calls `proc_exit(0)` has done its work: it stays
//! `installed` and is not restarted. A trap or a non-zero exit is `failed`
//! with the reason, and the restart policy runs it again, up to its limit;
//! then the code is `GAVE_UP` (the reason kept in the message), as for a
//! native process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use edge_model::ProfileType;
use edge_model::status::State;
use wasmtime::{
    Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::driver::{Driver, Observed, Running, Workload};
use crate::failure::{ComponentError, FailureCode};

/// Default cap on a module's linear memory.
pub const DEFAULT_MEMORY: usize = 64 * 1024 * 1024;

/// Why the WebAssembly runtime cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// wasmtime refused the configuration.
    #[error("cannot start wasmtime")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The epoch ticker thread did not start.
    #[error("cannot start the epoch ticker")]
    Ticker(#[source] std::io::Error),
}

/// Runs WASI modules in one shared engine.
pub struct WasmDriver {
    engine: Engine,
    memory: usize,
    active: Arc<Active>,
}

/// How many modules are running; the epoch ticker sleeps while none is.
#[derive(Default)]
struct Active {
    count: Mutex<usize>,
    changed: Condvar,
}

/// Counts one running module for as long as it lives.
struct Activity(Arc<Active>);

impl Activity {
    fn new(a: &Arc<Active>) -> Self {
        *a.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        a.changed.notify_all();
        Self(a.clone())
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
    }
}

struct Host {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

impl WasmDriver {
    /// An engine with epoch interruption, and its ticker thread.
    ///
    /// # Errors
    /// When wasmtime cannot be set up on this host.
    pub fn new(memory: usize) -> Result<Self, WasmError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Fuel counts instructions, so a deployment can bound a run's work.
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| WasmError::Engine(e.into()))?;
        let ticker = engine.weak();
        let active = Arc::new(Active::default());
        let idle = active.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".to_owned())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    // Ticks only while a module runs: an idle node stays idle.
                    let n = idle.count.lock().unwrap_or_else(PoisonError::into_inner);
                    if *n == 0 {
                        let _ = idle
                            .changed
                            .wait_timeout_while(n, Duration::from_secs(5), |n| *n == 0);
                        continue;
                    }
                    drop(n);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
            .map_err(WasmError::Ticker)?;
        Ok(Self {
            engine,
            memory,
            active,
        })
    }
}

/// What one run of a module ended with.
enum Ended {
    Done,
    Stopped,
    Failed(ComponentError),
}

#[derive(Debug, Clone)]
struct Seen {
    observed: Observed,
    finished: bool,
}

struct Shared {
    seen: Mutex<Seen>,
    changed: Condvar,
    stop: AtomicBool,
    /// The running thread's `/proc` folder (`/proc/PID/task/TID`), once known.
    task: std::sync::OnceLock<std::path::PathBuf>,
}

impl Shared {
    fn set(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
    }
}

fn run_once(
    engine: &Engine,
    module: &Module,
    w: &Workload,
    memory: usize,
    stop: Arc<Shared>,
) -> Ended {
    let log = match crate::control::append_log(&w.dir.join("output.log")) {
        Ok(f) => f,
        Err(e) => {
            return Ended::Failed(ComponentError::new(
                FailureCode::Start,
                format!("cannot open the log: {e}"),
            ));
        }
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => {
            return Ended::Failed(ComponentError::new(
                FailureCode::Start,
                format!("cannot open the log: {e}"),
            ));
        }
    };
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(OutputFile::new(log))
        .stderr(OutputFile::new(err_log))
        .arg(&w.component.name);
    for (k, v) in crate::driver::env_of(w) {
        wasi.env(k, v);
    }
    let host = Host {
        wasi: wasi.build_p1(),
        limits: StoreLimitsBuilder::new().memory_size(memory).build(),
    };
    let mut store = Store::new(engine, host);
    store.limiter(|h| &mut h.limits);
    let fuel = w.component.limits.fuel;
    if let Err(e) = store.set_fuel(fuel.unwrap_or(u64::MAX)) {
        return Ended::Failed(ComponentError::new(
            FailureCode::Start,
            format!("cannot set the fuel: {e}"),
        ));
    }
    store.set_epoch_deadline(1);
    let flag = stop.clone();
    store.epoch_deadline_callback(move |_| {
        if flag.stop.load(Ordering::Relaxed) {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
    let mut linker: Linker<Host> = Linker::new(engine);
    if let Err(e) = wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h| &mut h.wasi) {
        return Ended::Failed(ComponentError::new(
            FailureCode::Start,
            format!("cannot link WASI: {e}"),
        ));
    }
    let result = linker
        .instantiate(&mut store, module)
        .and_then(|i| i.get_typed_func::<(), ()>(&mut store, "_start"))
        .and_then(|f| f.call(&mut store, ()));
    match result {
        Ok(()) => Ended::Done,
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(x) if x.0 == 0 => Ended::Done,
            Some(x) => Ended::Failed(ComponentError::new(
                FailureCode::Exit,
                format!("exited with status {}", x.0),
            )),
            None if stop.stop.load(Ordering::Relaxed) => Ended::Stopped,
            None if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) => {
                Ended::Failed(ComponentError::new(
                    FailureCode::Fuel,
                    format!(
                        "used up the {} units of fuel its deployment allows one run",
                        fuel.unwrap_or(u64::MAX)
                    ),
                ))
            }
            None => Ended::Failed(ComponentError::new(FailureCode::Trap, format!("{e:#}"))),
        },
    }
}

/// Compile the module of `w`. A module that does not compile is named by
/// its component and where it came from ([`Workload::origin`]), not by the
/// file in the node's artifact store.
fn compile(engine: &Engine, w: &Workload) -> Result<Module, ComponentError> {
    let origin = if w.origin.is_empty() {
        format!("`{}`", w.artifact.display())
    } else {
        w.origin.clone()
    };
    let bytes = std::fs::read(&w.artifact).map_err(|e| {
        ComponentError::new(
            FailureCode::Artifact,
            format!(
                "cannot read the module of component `{}` ({origin}): {e}",
                w.component.name
            ),
        )
    })?;
    Module::new(engine, &bytes).map_err(|e| {
        ComponentError::new(
            FailureCode::Artifact,
            format!(
                "the WebAssembly module of component `{}` ({origin}) does not compile: {}",
                w.component.name,
                one_line(&format!("{e:#}"))
            ),
        )
    })
}

/// A message on one line (wasmtime's may span several).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

struct RunningModule {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running for RunningModule {
    fn observe(&self) -> Observed {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observed
            .clone()
    }

    /// The module's thread sleeps in a host call (a timer, a socket), or
    /// has computed a while; a thread not yet started has not.
    fn resting(&self) -> Option<bool> {
        match self.shared.task.get() {
            Some(task) => crate::ledger::resting(task),
            None => Some(false),
        }
    }

    fn stop(mut self: Box<Self>, grace: Duration) -> Observed {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        let deadline = Instant::now() + grace;
        let guard = self
            .shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(
                guard,
                deadline.saturating_duration_since(Instant::now()),
                |s| !s.finished,
            )
            .unwrap_or_else(PoisonError::into_inner);
        let restarts = guard.observed.restarts;
        drop(guard);
        if let Some(t) = self.thread.take()
            && t.is_finished()
        {
            let _ = t.join();
        }
        Observed {
            state: State::Removed,
            error: None,
            restarts,
        }
    }
}

impl Driver for WasmDriver {
    fn kind(&self) -> ProfileType {
        ProfileType::Wasm
    }

    fn unavailable(&self) -> Option<String> {
        None
    }

    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError> {
        let fail = ComponentError::new;
        w.make_dir()?;
        let module = compile(&self.engine, w)?;
        let shared = Arc::new(Shared {
            seen: Mutex::new(Seen {
                observed: Observed {
                    state: State::Installing,
                    error: None,
                    restarts: 0,
                },
                finished: false,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            task: std::sync::OnceLock::new(),
        });
        let memory = w
            .component
            .limits
            .memory_bytes
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(self.memory);
        let (engine, w2, s) = (self.engine.clone(), w.clone(), shared.clone());
        let active = self.active.clone();
        let thread = std::thread::Builder::new()
            .name(format!("wasm-{}", w.component.name))
            .spawn(move || {
                if let Ok(task) = std::fs::read_link("/proc/thread-self") {
                    let _ = s.task.set(std::path::Path::new("/proc").join(task));
                }
                let mut in_a_row = 0;
                loop {
                    let started = Instant::now();
                    s.set(|seen| {
                        seen.observed.state = State::Installed;
                        seen.observed.error = None;
                    });
                    let ran = {
                        let _running = Activity::new(&active);
                        run_once(&engine, &module, &w2, memory, s.clone())
                    };
                    match ran {
                        Ended::Done => break,
                        Ended::Stopped => {
                            s.set(|seen| seen.observed.state = State::Removed);
                            break;
                        }
                        Ended::Failed(error) => {
                            s.set(|seen| {
                                seen.observed.state = State::Failed;
                                seen.observed.error = Some(error);
                            });
                        }
                    }
                    if s.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if !w2.restart.again(&mut in_a_row, started.elapsed()) {
                        // Final, as the process driver says it.
                        s.set(|seen| {
                            if let Some(error) = seen.observed.error.take() {
                                seen.observed.error = Some(ComponentError::new(
                                    FailureCode::GaveUp,
                                    format!(
                                        "{error}; gave up after {} restarts",
                                        seen.observed.restarts
                                    ),
                                ));
                            }
                        });
                        break;
                    }
                    s.set(|seen| seen.observed.restarts += 1);
                    let guard = s.seen.lock().unwrap_or_else(PoisonError::into_inner);
                    let _unused = s
                        .changed
                        .wait_timeout_while(guard, w2.restart.interval, |_| {
                            !s.stop.load(Ordering::Relaxed)
                        })
                        .unwrap_or_else(PoisonError::into_inner);
                    if s.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                s.set(|seen| seen.finished = true);
            })
            .map_err(|e| fail(FailureCode::Start, format!("cannot start a thread: {e}")))?;
        Ok(Box::new(RunningModule {
            shared,
            thread: Some(thread),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ComponentPlan;
    use crate::process::RestartPolicy;
    use std::path::PathBuf;

    fn workload(dir: &std::path::Path, artifact: PathBuf, greeting: Option<&str>) -> Workload {
        Workload {
            deployment: "d".into(),
            component: ComponentPlan {
                name: "hello".into(),
                kind: ProfileType::Wasm,
                repository: None,
                revision: None,
                wait: true,
                timeout: None,
                settings: greeting
                    .map(|g| [("GREETING".to_owned(), serde_json::Value::from(g))].into())
                    .unwrap_or_default(),
                limits: edge_model::profile::Limits::default(),
                artifact: None,
            },
            artifact,
            origin: String::new(),
            dir: dir.join("hello"),
            env: Vec::new(),
            restart: RestartPolicy {
                interval: Duration::from_millis(20),
                limit: 2,
                stable_after: Duration::from_secs(30),
            },
        }
    }

    fn until(r: &dyn Running, what: &str, f: impl Fn(&Observed) -> bool) -> Observed {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = r.observe();
            if f(&o) {
                return o;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {o:?}"
            );
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    fn write(dir: &std::path::Path, name: &str, wat: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, wat).unwrap();
        p
    }

    #[test]
    fn a_module_that_does_not_compile_is_named_by_component_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("sha256-blob");
        std::fs::write(&blob, b"\0asm\x01\0\0\0\x01\xff\xff").unwrap();
        let d = WasmDriver::new(DEFAULT_MEMORY).unwrap();
        let mut w = workload(dir.path(), blob, None);
        w.origin = "from `oci://127.0.0.1:5000/apps/hello:1.0` (sha256:abc)".into();
        let Err(e) = d.start(&w) else {
            panic!("a broken module started")
        };
        assert_eq!(e.code, FailureCode::Artifact);
        assert!(
            e.message.starts_with(
                "the WebAssembly module of component `hello` (from `oci://127.0.0.1:5000/apps/hello:1.0` (sha256:abc)) does not compile: "
            ),
            "{e}"
        );
        assert!(!e.message.contains("sha256-blob"), "no cache path: {e}");
        assert!(!e.message.contains('\n'), "one line: {e}");
    }

    #[test]
    fn the_fixture_greets_with_its_parameter_and_stays_installed() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/packages/hello-wasm/components/hello.wat");
        let d = WasmDriver::new(DEFAULT_MEMORY).unwrap();
        let w = workload(dir.path(), fixture, Some("hello, plant 1"));
        let r = d.start(&w).unwrap();
        let log = w.dir.join("output.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&log).unwrap_or_default() != "hello, plant 1\n" {
            assert!(
                Instant::now() < deadline,
                "no greeting: {:?}",
                std::fs::read_to_string(&log)
            );
            std::thread::park_timeout(Duration::from_millis(10));
        }
        let o = r.observe();
        assert_eq!((o.state, o.restarts), (State::Installed, 0));
        assert_eq!(r.stop(Duration::from_secs(1)).state, State::Removed);
    }

    #[test]
    fn a_trap_is_failed_with_the_reason_and_retried_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let m = write(
            dir.path(),
            "trap.wat",
            r#"(module (func (export "_start") unreachable))"#,
        );
        let d = WasmDriver::new(DEFAULT_MEMORY).unwrap();
        let r = d.start(&workload(dir.path(), m, None)).unwrap();
        let o = until(r.as_ref(), "gave up", |o| {
            o.error
                .as_ref()
                .is_some_and(|e| e.code == FailureCode::GaveUp)
        });
        assert_eq!((o.state, o.restarts), (State::Failed, 2));
        let message = o.error.unwrap().message;
        assert!(message.starts_with("TRAP: "), "{message}");
        assert!(message.contains("unreachable"), "{message}");
        assert!(message.contains("gave up after 2 restarts"), "{message}");
    }

    #[test]
    fn an_endless_module_stops_on_request_and_memory_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let spin = write(
            dir.path(),
            "spin.wat",
            r#"(module (func (export "_start") (loop (br 0))))"#,
        );
        let d = WasmDriver::new(DEFAULT_MEMORY).unwrap();
        let r = d.start(&workload(dir.path(), spin, None)).unwrap();
        until(r.as_ref(), "running", |o| o.state == State::Installed);
        let started = Instant::now();
        assert_eq!(r.stop(Duration::from_secs(5)).state, State::Removed);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "interrupted promptly"
        );

        let big = write(
            dir.path(),
            "big.wat",
            r#"(module (memory 2000) (func (export "_start")))"#,
        );
        let small = WasmDriver::new(1024 * 1024).unwrap();
        let r = small.start(&workload(dir.path(), big, None)).unwrap();
        let o = until(r.as_ref(), "refused", |o| o.state == State::Failed);
        assert_eq!(o.error.unwrap().code, FailureCode::Trap);
        let bad = write(dir.path(), "bad.wat", "(module (func");
        let e = d.start(&workload(dir.path(), bad, None)).err().unwrap();
        assert_eq!(e.code, FailureCode::Artifact);
    }

    #[test]
    fn a_deployment_limits_memory_and_fuel() {
        let dir = tempfile::tempdir().unwrap();
        let d = WasmDriver::new(DEFAULT_MEMORY).unwrap();
        // Ten pages fit the node's default cap; the component's own cap of
        // one page refuses them.
        let ten = write(
            dir.path(),
            "ten.wat",
            r#"(module (memory 10) (func (export "_start")))"#,
        );
        let r = d.start(&workload(dir.path(), ten.clone(), None)).unwrap();
        until(r.as_ref(), "ran", |o| o.state == State::Installed);
        let mut w = workload(dir.path(), ten, None);
        w.dir = dir.path().join("capped");
        w.component.limits.memory_bytes = Some(64 * 1024);
        let r = d.start(&w).unwrap();
        let o = until(r.as_ref(), "refused", |o| o.state == State::Failed);
        assert_eq!(o.error.unwrap().code, FailureCode::Trap);

        let spin = write(
            dir.path(),
            "spin.wat",
            r#"(module (func (export "_start") (loop (br 0))))"#,
        );
        let mut w = workload(dir.path(), spin, None);
        w.component.limits.fuel = Some(100_000);
        let r = d.start(&w).unwrap();
        let o = until(r.as_ref(), "out of fuel", |o| o.state == State::Failed);
        let ComponentError { code, message } = o.error.unwrap();
        assert!(
            matches!(code, FailureCode::Fuel | FailureCode::GaveUp),
            "{code}"
        );
        assert!(message.contains("100000 units"), "{message}");
        r.stop(Duration::from_secs(1));
    }
}
