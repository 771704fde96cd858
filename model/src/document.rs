//! Document kinds, detection, and the one pipeline every Margo document goes
//! through: bounded load → validation of the untrusted tree (every problem,
//! any era) → normalization to the rc.3 form → typed value.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::app::ApplicationDescription;
use crate::capabilities::DeviceCapabilitiesManifest;
use crate::check::Obj;
use crate::deployment::ApplicationDeployment;
use crate::issue::{Issue, Report, Rule};
use crate::load::{LoadError, parse_value};
use crate::manifest::DesiredStateManifest;
use crate::problem::ProblemDetail;
use crate::status::DeploymentStatusManifest;

/// The kinds of document the model knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)]
pub enum DocumentKind {
    ApplicationDescription,
    ApplicationDeployment,
    DesiredStateManifest,
    DeploymentStatusManifest,
    DeviceCapabilitiesManifest,
    ProblemDetail,
}

impl DocumentKind {
    /// The name used in messages and JSON output.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApplicationDescription => "ApplicationDescription",
            Self::ApplicationDeployment => "ApplicationDeployment",
            Self::DesiredStateManifest => "DesiredStateManifest",
            Self::DeploymentStatusManifest => "DeploymentStatusManifest",
            Self::DeviceCapabilitiesManifest => "DeviceCapabilitiesManifest",
            Self::ProblemDetail => "ProblemDetail",
        }
    }

    /// Guess the kind: the `kind` field when it names one, else the shape.
    /// A wrong `kind` on a recognizable shape is left for validation to report.
    #[must_use]
    pub fn detect(m: &Map<String, Value>) -> Option<Self> {
        let by_kind = match m.get("kind").and_then(Value::as_str) {
            Some("ApplicationDescription") => Some(Self::ApplicationDescription),
            Some("ApplicationDeployment") => Some(Self::ApplicationDeployment),
            Some("DeploymentStatusManifest" | "DeploymentStatus") => {
                Some(Self::DeploymentStatusManifest)
            }
            Some("DeviceCapabilitiesManifest" | "DeviceCapabilities") => {
                Some(Self::DeviceCapabilitiesManifest)
            }
            _ => None,
        };
        by_kind.or_else(|| {
            let has = |k: &str| m.contains_key(k);
            if has("deploymentProfiles") {
                Some(Self::ApplicationDescription)
            } else if has("spec") {
                Some(Self::ApplicationDeployment)
            } else if has("manifestVersion") {
                Some(Self::DesiredStateManifest)
            } else if has("deploymentId") || (has("status") && has("components")) {
                Some(Self::DeploymentStatusManifest)
            } else if has("properties") {
                Some(Self::DeviceCapabilitiesManifest)
            } else if has("title") || (has("type") && has("status")) {
                Some(Self::ProblemDetail)
            } else {
                None
            }
        })
    }
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid document and the notes its validation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    /// The document, in rc.3 form.
    pub document: T,
    /// Extensions used, older forms converted.
    pub notes: Vec<Issue>,
}

/// Why a document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The bytes could not be read as a document at all.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The document was read but breaks rules; every problem is listed.
    #[error("{} problem(s), first: {}", .0.errors.len(), .0.errors.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Report),
}

/// A Margo document type: how to validate its untrusted tree and how to bring
/// older drafts into the rc.3 form.
pub trait MargoDocument: Sized + Serialize + DeserializeOwned {
    /// The kind.
    const KIND: DocumentKind;

    /// Validate the untrusted tree, recording every problem.
    fn check(r: &mut Report, m: &Obj);

    /// Checks that need the typed value (cross references); run only when
    /// [`MargoDocument::check`] found no errors.
    fn check_typed(&self, _r: &mut Report) {}

    /// Rewrite a valid tree of any era into the rc.3 form.
    fn normalize(m: Map<String, Value>) -> Map<String, Value>;

    /// Validate and convert a value tree.
    fn from_value(v: Value) -> Result<Checked<Self>, Report> {
        let mut r = Report::default();
        let Value::Object(m) = v else {
            r.error("", Rule::Type, "the document must be a mapping");
            return Err(r);
        };
        Self::check(&mut r, &m);
        if !r.is_valid() {
            return Err(r);
        }
        match serde_json::from_value::<Self>(Value::Object(Self::normalize(m))) {
            Ok(document) => {
                document.check_typed(&mut r);
                if r.is_valid() {
                    Ok(Checked {
                        document,
                        notes: r.notes,
                    })
                } else {
                    Err(r)
                }
            }
            Err(e) => {
                r.error("", Rule::Type, e.to_string());
                Err(r)
            }
        }
    }

    /// Read, validate and convert untrusted bytes (YAML or JSON).
    fn from_slice(bytes: &[u8]) -> Result<Checked<Self>, DocumentError> {
        let (v, _) = parse_value(bytes)?;
        Self::from_value(v).map_err(DocumentError::Invalid)
    }

    /// YAML text of the document.
    fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).unwrap_or_default()
    }
}

/// Any Margo document.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Document {
    ApplicationDescription(Box<ApplicationDescription>),
    ApplicationDeployment(Box<ApplicationDeployment>),
    DesiredStateManifest(DesiredStateManifest),
    DeploymentStatusManifest(DeploymentStatusManifest),
    DeviceCapabilitiesManifest(Box<DeviceCapabilitiesManifest>),
    ProblemDetail(ProblemDetail),
}

/// The result of checking a document of unknown kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The detected kind, if any.
    pub kind: Option<DocumentKind>,
    /// The document when valid.
    pub document: Option<Document>,
    /// Every error and note.
    pub report: Report,
}

fn run<T: MargoDocument>(v: Value, wrap: fn(T) -> Document) -> (Option<Document>, Report) {
    match T::from_value(v) {
        Ok(c) => (
            Some(wrap(c.document)),
            Report {
                errors: Vec::new(),
                notes: c.notes,
            },
        ),
        Err(r) => (None, r),
    }
}

/// Read untrusted bytes, detect the kind, validate and convert.
pub fn check_document(bytes: &[u8]) -> Result<Outcome, LoadError> {
    let (v, _) = parse_value(bytes)?;
    let kind = v.as_object().and_then(DocumentKind::detect);
    let (document, report) = match kind {
        Some(DocumentKind::ApplicationDescription) => {
            run(v, |d| Document::ApplicationDescription(Box::new(d)))
        }
        Some(DocumentKind::ApplicationDeployment) => {
            run(v, |d| Document::ApplicationDeployment(Box::new(d)))
        }
        Some(DocumentKind::DesiredStateManifest) => run(v, Document::DesiredStateManifest),
        Some(DocumentKind::DeploymentStatusManifest) => run(v, Document::DeploymentStatusManifest),
        Some(DocumentKind::DeviceCapabilitiesManifest) => {
            run(v, |d| Document::DeviceCapabilitiesManifest(Box::new(d)))
        }
        Some(DocumentKind::ProblemDetail) => run(v, Document::ProblemDetail),
        None => {
            let mut r = Report::default();
            r.error(
                "kind",
                Rule::Kind,
                "cannot tell which Margo document this is: give `kind` or the fields of one of ApplicationDescription, ApplicationDeployment, DesiredStateManifest, DeploymentStatusManifest, DeviceCapabilitiesManifest, ProblemDetail",
            );
            (None, r)
        }
    };
    Ok(Outcome {
        kind,
        document,
        report,
    })
}

impl Document {
    /// YAML text of the document in rc.3 form.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        match self {
            Self::ApplicationDescription(d) => d.to_yaml(),
            Self::ApplicationDeployment(d) => d.to_yaml(),
            Self::DesiredStateManifest(d) => d.to_yaml(),
            Self::DeploymentStatusManifest(d) => d.to_yaml(),
            Self::DeviceCapabilitiesManifest(d) => d.to_yaml(),
            Self::ProblemDetail(d) => d.to_yaml(),
        }
    }
}
