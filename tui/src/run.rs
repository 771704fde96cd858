//! The loop that makes it live: the terminal set up and always restored
//! (also on panic), one channel of messages fed by four kinds of threads
//! (terminal input, the CO's event stream with reconnects, a one-second
//! tick, and one short-lived worker per backend command), and the main loop:
//! receive, `update`, run the commands, draw.

use std::io::{self, Stdout};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crossterm::cursor::Show;
use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::backend::Backend;
use crate::state::{ROLLOUT_LIMIT, State};
use crate::update::{self, Cmd, Msg};
use crate::view;

/// The event stream's first reconnect delay, doubled up to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A stream open this long without failing counts as up.
const UP_AFTER: Duration = Duration::from_millis(1500);
/// How often the input thread looks whether it should stop.
const INPUT_POLL: Duration = Duration::from_millis(250);
const TICK: Duration = Duration::from_secs(1);

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Run the TUI on this terminal until the user quits.
///
/// Takes the terminal over (raw mode, alternate screen) and gives it back on
/// every way out, a panic included: the panic hook restores the terminal
/// before the panic message is printed.
///
/// # Errors
/// When the terminal cannot be set up or drawn on, or a thread of the TUI
/// dies (the error says which).
pub fn run(backend: Arc<dyn Backend>) -> io::Result<()> {
    terminal::enable_raw_mode()?;
    if let Err(e) = execute!(io::stdout(), EnterAlternateScreen) {
        restore();
        return Err(e);
    }
    let previous: Arc<Hook> = Arc::new(panic::take_hook());
    let chained = Arc::clone(&previous);
    panic::set_hook(Box::new(move |info| {
        restore();
        chained(info);
    }));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| session(backend)));
    restore();
    drop(panic::take_hook());
    panic::set_hook(Box::new(move |info| previous(info)));
    match outcome {
        Ok(result) => result,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Give the terminal back: cooked mode, main screen, cursor shown.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

fn session(backend: Arc<dyn Backend>) -> io::Result<()> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input(&tx, &stop);
    spawn_events(&backend, &tx, &stop);
    spawn_ticks(&tx, &stop);
    let mut state = State::new();
    let size = terminal.size()?;
    state.size = (size.width, size.height);
    let first = update::start(&mut state);
    let result = main_loop(&mut terminal, &mut state, &rx, &tx, &backend, first);
    stop.store(true, Ordering::Relaxed);
    result?;
    match state.fatal {
        Some(why) => Err(io::Error::other(why)),
        None => Ok(()),
    }
}

fn main_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    state: &mut State,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    backend: &Arc<dyn Backend>,
    first: Vec<Cmd>,
) -> io::Result<()> {
    let mut cmds = first;
    loop {
        for cmd in cmds.drain(..) {
            if cmd == Cmd::Quit {
                return Ok(());
            }
            execute(cmd, backend, tx);
        }
        terminal.draw(|frame| view::draw(frame, state))?;
        let Ok(msg) = rx.recv() else {
            return Ok(());
        };
        cmds = update::update(state, msg);
        // Take in what queued up meanwhile before drawing again.
        while let Ok(msg) = rx.try_recv() {
            cmds.extend(update::update(state, msg));
        }
    }
}

/// Start a named thread; its panic becomes a `Fatal` message.
fn spawn(name: &'static str, tx: &Sender<Msg>, body: impl FnOnce(&Sender<Msg>) + Send + 'static) {
    let own = tx.clone();
    let spawned = thread::Builder::new().name(name.into()).spawn(move || {
        if panic::catch_unwind(AssertUnwindSafe(|| body(&own))).is_err() {
            let _ = own.send(Msg::Fatal(format!("The {name} thread panicked.")));
        }
    });
    if let Err(e) = spawned {
        let _ = tx.send(Msg::Fatal(format!(
            "Could not start the {name} thread: {e}"
        )));
    }
}

/// Run one command on a worker thread; its answer comes back as a message.
fn execute(cmd: Cmd, backend: &Arc<dyn Backend>, tx: &Sender<Msg>) {
    let backend = Arc::clone(backend);
    spawn("tui-worker", tx, move |tx| {
        let msg = match cmd {
            Cmd::Refresh => Msg::Loaded(backend.snapshot()),
            Cmd::LoadApp(id) => {
                let result = backend.app(&id);
                Msg::AppLoaded(id, result)
            }
            Cmd::Deploy(request) => Msg::Deployed(backend.deploy(&request)),
            Cmd::Undeploy(id) => {
                let result = backend.undeploy(&id);
                Msg::Undeployed(id, result)
            }
            Cmd::Logs { deployment, from } => {
                let result = backend.logs(&deployment, from);
                Msg::Logs(deployment, result)
            }
            Cmd::RemoteLogs { deployment, from } => {
                let result = backend.remote_logs(&deployment, from);
                Msg::Logs(deployment, result)
            }
            Cmd::AskNode => Msg::Node(backend.local_node()),
            Cmd::LoadRollouts => Msg::RolloutsLoaded(backend.rollouts(ROLLOUT_LIMIT)),
            Cmd::LoadRollout(id) => {
                let result = backend.rollout(&id);
                Msg::RolloutLoaded(id, result)
            }
            Cmd::ActOnRollout { id, action } => {
                let result = backend.rollout_action(&id, action);
                Msg::RolloutActed(id, action, result)
            }
            Cmd::Quit => return,
        };
        let _ = tx.send(msg);
    });
}

fn spawn_input(tx: &Sender<Msg>, stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    spawn("tui-input", tx, move |tx| {
        while !stop.load(Ordering::Relaxed) {
            let msg = match event::poll(INPUT_POLL) {
                Ok(false) => continue,
                Ok(true) => match event::read() {
                    Ok(TermEvent::Key(key)) if key.kind == KeyEventKind::Press => Msg::Key(key),
                    Ok(TermEvent::Resize(w, h)) => Msg::Resize(w, h),
                    Ok(_) => continue,
                    Err(e) => Msg::Fatal(format!("Reading the terminal failed: {e}")),
                },
                Err(e) => Msg::Fatal(format!("Reading the terminal failed: {e}")),
            };
            let fatal = matches!(msg, Msg::Fatal(_));
            if tx.send(msg).is_err() || fatal {
                return;
            }
        }
    });
}

fn spawn_ticks(tx: &Sender<Msg>, stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    spawn("tui-tick", tx, move |tx| {
        loop {
            thread::sleep(TICK);
            if stop.load(Ordering::Relaxed) || tx.send(Msg::Tick).is_err() {
                return;
            }
        }
    });
}

/// One attempt at following the stream: (ended, `StreamUp` sent), under a
/// lock so that `StreamUp` never follows the attempt's `StreamDown`.
#[derive(Default)]
struct Attempt(Mutex<(bool, bool)>);

impl Attempt {
    fn lock(&self) -> MutexGuard<'_, (bool, bool)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Say the stream is up, once, unless the attempt has ended.
    fn announce(&self, tx: &Sender<Msg>) {
        let mut phase = self.lock();
        if !phase.0 && !phase.1 {
            phase.1 = true;
            let _ = tx.send(Msg::StreamUp);
        }
    }

    /// End the attempt with `why`; returns whether it had been up and
    /// whether the TUI still listens.
    fn end(&self, tx: &Sender<Msg>, why: String) -> (bool, bool) {
        let mut phase = self.lock();
        phase.0 = true;
        (phase.1, tx.send(Msg::StreamDown(why)).is_ok())
    }
}

/// Follow the CO's events, resuming after the last one seen; on a break,
/// say so and try again after 1 s, 2 s, 4 s … at most 30 s.
fn spawn_events(backend: &Arc<dyn Backend>, tx: &Sender<Msg>, stop: &Arc<AtomicBool>) {
    let backend = Arc::clone(backend);
    let stop = Arc::clone(stop);
    spawn("tui-events", tx, move |tx| {
        let mut after = None;
        let mut delay = BACKOFF_MIN;
        while !stop.load(Ordering::Relaxed) {
            let attempt = Arc::new(Attempt::default());
            // The backend has no "connected" signal: a stream that stays
            // open for a moment (or delivers an event) is up.
            let watcher = Arc::clone(&attempt);
            spawn("tui-events-up", tx, move |tx| {
                thread::sleep(UP_AFTER);
                watcher.announce(tx);
            });
            let result = backend.events(after, &mut |event| {
                attempt.announce(tx);
                // A reset has no id: resume from what comes next.
                after = (event.kind != "reset").then_some(event.id);
                tx.send(Msg::Event(event)).is_ok() && !stop.load(Ordering::Relaxed)
            });
            match result {
                Ok(()) => return,
                Err(why) => {
                    let (was_up, listening) = attempt.end(tx, why);
                    if was_up {
                        delay = BACKOFF_MIN;
                    }
                    if !listening {
                        return;
                    }
                    thread::sleep(delay);
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        }
    });
}
