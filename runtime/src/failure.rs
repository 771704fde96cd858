//! Why a component is `failed`: a code from one closed set, shared by the
//! drivers (which observe) and the edge node's executor (which decides), and
//! a sentence. The code's wire text is what a Margo status report carries in
//! `error.code`; code is compared as an enum, never as text.

/// The code of a component's failure, as a status report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// Its artifact cannot be had, verified or used (`ARTIFACT`).
    Artifact,
    /// The node could not start it (`START`).
    Start,
    /// A parameter value it cannot be given (`PARAMETER`).
    Parameter,
    /// It stopped and is being restarted (`EXITED`).
    Exited,
    /// It kept stopping; the restart policy gave up (`GAVE_UP`).
    GaveUp,
    /// Its containers exited while it first started (`START_FAILED`).
    StartFailed,
    /// A WebAssembly module exited non-zero (`EXIT`).
    Exit,
    /// A WebAssembly module used up its fuel (`FUEL`).
    Fuel,
    /// A WebAssembly module trapped (`TRAP`).
    Trap,
    /// An earlier component of its deployment failed (`NOT_STARTED`).
    NotStarted,
    /// Its deployment went away while it started (`REMOVED`).
    Removed,
    /// This node has no runtime for its type (`UNSUPPORTED`).
    Unsupported,
    /// It did not come up within its deployment's timeout (`TIMEOUT`).
    Timeout,
    /// An operator stopped it on the node (`STOPPED`).
    Stopped,
    /// Its artifact does not fit in the node's store (`STORAGE`).
    Storage,
}

impl FailureCode {
    /// The code's text in a status report.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Artifact => "ARTIFACT",
            Self::Start => "START",
            Self::Parameter => "PARAMETER",
            Self::Exited => "EXITED",
            Self::GaveUp => "GAVE_UP",
            Self::StartFailed => "START_FAILED",
            Self::Exit => "EXIT",
            Self::Fuel => "FUEL",
            Self::Trap => "TRAP",
            Self::NotStarted => "NOT_STARTED",
            Self::Removed => "REMOVED",
            Self::Unsupported => "UNSUPPORTED",
            Self::Timeout => "TIMEOUT",
            Self::Stopped => "STOPPED",
            Self::Storage => "STORAGE",
        }
    }

    /// Whether the driver will not try again by itself (a crash loop it gave
    /// up on, a failed start); a restart in progress is not final.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::GaveUp | Self::StartFailed)
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a component failed, or could not be started: a code and one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ComponentError {
    /// What kind of failure.
    pub code: FailureCode,
    /// One sentence.
    pub message: String,
}

impl ComponentError {
    /// A failure with `code` and `message`.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// An error and its sources as one sentence (`a: b: c`), for a status
/// message or a log line that carries no chain of its own.
#[must_use]
pub fn sentence(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_their_wire_text() {
        use FailureCode::*;
        let all = [
            (Artifact, "ARTIFACT"),
            (Start, "START"),
            (Parameter, "PARAMETER"),
            (Exited, "EXITED"),
            (GaveUp, "GAVE_UP"),
            (StartFailed, "START_FAILED"),
            (Exit, "EXIT"),
            (Fuel, "FUEL"),
            (Trap, "TRAP"),
            (NotStarted, "NOT_STARTED"),
            (Removed, "REMOVED"),
            (Unsupported, "UNSUPPORTED"),
            (Timeout, "TIMEOUT"),
            (Stopped, "STOPPED"),
            (Storage, "STORAGE"),
        ];
        for (code, text) in all {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(code.is_final(), matches!(code, GaveUp | StartFailed));
        }
        assert_eq!(
            ComponentError::new(Timeout, "not running within 5s").to_string(),
            "TIMEOUT: not running within 5s"
        );
    }

    #[test]
    fn a_sentence_names_every_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot run podman")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("no such file"));
        assert_eq!(sentence(&e), "cannot run podman: no such file");
    }
}
