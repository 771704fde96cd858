//! The deploy form: pick an app, a site, optionally one device and a profile,
//! then edit the parameters the app's configuration exposes (prefilled with
//! the description's defaults). Pure data and the rules to step through it;
//! the CO is the judge of the values, and its refusal is shown in the form.

use std::collections::BTreeMap;

use edge_api::types::DeployRequest;
use serde_json::Value;

use crate::backend::Snapshot;

/// Where the form is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    App,
    Site,
    Device,
    Profile,
    Params,
}

impl Step {
    /// The form's title for this step.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Site => "site",
            Self::Device => "device",
            Self::Profile => "profile",
            Self::Params => "parameters",
        }
    }
}

/// One entry of a pick-one step; `key` is `None` for "every device".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) key: Option<String>,
    pub(crate) label: String,
}

/// One parameter the app's configuration exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The parameter's key in `parameters` (what `set` names).
    pub(crate) parameter: String,
    /// The setting's display name.
    pub(crate) label: String,
    /// The setting's description.
    pub(crate) description: String,
    /// The schema's `dataType`, when named.
    pub(crate) data_type: String,
    /// The description's default value, as text.
    pub(crate) default: String,
    /// What the field holds now.
    pub(crate) value: String,
}

/// The deploy form's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeployForm {
    pub(crate) step: Step,
    /// The highlighted entry of a pick-one step.
    pub(crate) cursor: usize,
    pub(crate) app: Option<String>,
    pub(crate) site: Option<String>,
    /// `None`: every device of the site that fits.
    pub(crate) device: Option<String>,
    /// `None`: the app's first profile.
    pub(crate) profile: Option<String>,
    /// The parameters, once the app's description is at hand.
    pub(crate) fields: Option<Vec<Field>>,
    /// The field with the cursor.
    pub(crate) field: usize,
    /// The CO's refusal of the last try, or a note on this step.
    pub(crate) error: Option<String>,
    /// A deploy is on its way.
    pub(crate) busy: bool,
    /// Site and device to put the cursor on first (from the selection).
    pub(crate) prefer_site: Option<String>,
    pub(crate) prefer_device: Option<String>,
}

impl DeployForm {
    /// A form at the app step, the cursor on `app` when given.
    pub(crate) fn new(snapshot: &Snapshot, app: Option<&str>) -> Self {
        let cursor = app
            .and_then(|a| snapshot.apps.iter().position(|x| x.id == a))
            .unwrap_or(0);
        Self {
            step: Step::App,
            cursor,
            app: None,
            site: None,
            device: None,
            profile: None,
            fields: None,
            field: 0,
            error: None,
            busy: false,
            prefer_site: None,
            prefer_device: None,
        }
    }

    /// The entries of the current pick-one step (empty at `Params`).
    pub(crate) fn choices(&self, snapshot: &Snapshot) -> Vec<Choice> {
        match self.step {
            Step::App => snapshot
                .apps
                .iter()
                .map(|a| Choice {
                    key: Some(a.id.clone()),
                    label: format!("{}  {}  ({})", a.id, a.latest, a.profiles.join(", ")),
                })
                .collect(),
            Step::Site => snapshot
                .sites
                .iter()
                .map(|s| Choice {
                    key: Some(s.name.clone()),
                    label: format!(
                        "{}  ({} device{})",
                        s.name,
                        s.devices,
                        if s.devices == 1 { "" } else { "s" }
                    ),
                })
                .collect(),
            Step::Device => {
                let every = Choice {
                    key: None,
                    label: "every device of the site that fits".into(),
                };
                let site = self.site.as_deref();
                std::iter::once(every)
                    .chain(
                        snapshot
                            .devices
                            .iter()
                            .filter(|d| Some(d.site.as_str()) == site)
                            .map(|d| Choice {
                                key: Some(d.id.clone()),
                                label: d.id.clone(),
                            }),
                    )
                    .collect()
            }
            Step::Profile => self
                .profiles(snapshot)
                .into_iter()
                .map(|p| Choice {
                    key: Some(p.clone()),
                    label: p,
                })
                .collect(),
            Step::Params => Vec::new(),
        }
    }

    /// The chosen app's profile types, from the store's list.
    pub(crate) fn profiles(&self, snapshot: &Snapshot) -> Vec<String> {
        snapshot
            .apps
            .iter()
            .find(|a| Some(&a.id) == self.app.as_ref())
            .map(|a| a.profiles.clone())
            .unwrap_or_default()
    }

    /// Take the highlighted entry and go to the next step. Returns `false`
    /// (and says why in `error`) when there is nothing to choose.
    pub(crate) fn choose(&mut self, snapshot: &Snapshot) -> bool {
        let choices = self.choices(snapshot);
        let Some(choice) = choices.get(self.cursor) else {
            self.error = Some(match self.step {
                Step::App => "The store has no apps yet (edgectl app add).".into(),
                Step::Site => "There are no sites yet (edgectl site add).".into(),
                _ => "Nothing to choose.".into(),
            });
            return false;
        };
        let key = choice.key.clone();
        self.error = None;
        match self.step {
            Step::App => {
                if key != self.app {
                    self.fields = None;
                    self.profile = None;
                }
                self.app = key;
                self.enter(Step::Site, snapshot);
            }
            Step::Site => {
                if key != self.site {
                    self.device = None;
                }
                self.site = key;
                self.enter(Step::Device, snapshot);
            }
            Step::Device => {
                self.device = key;
                if self.profiles(snapshot).len() > 1 {
                    self.enter(Step::Profile, snapshot);
                } else {
                    self.profile = None;
                    self.enter(Step::Params, snapshot);
                }
            }
            Step::Profile => {
                self.profile = key;
                self.enter(Step::Params, snapshot);
            }
            Step::Params => {}
        }
        true
    }

    /// Go back a step; `false` when already at the first (close the form).
    pub(crate) fn back(&mut self, snapshot: &Snapshot) -> bool {
        self.error = None;
        let previous = match self.step {
            Step::App => return false,
            Step::Site => Step::App,
            Step::Device => Step::Site,
            Step::Profile => Step::Device,
            Step::Params if self.profiles(snapshot).len() > 1 => Step::Profile,
            Step::Params => Step::Device,
        };
        self.enter(previous, snapshot);
        true
    }

    /// Move to `step` with the cursor on what was chosen there before.
    pub(crate) fn enter(&mut self, step: Step, snapshot: &Snapshot) {
        self.step = step;
        let current = match step {
            Step::App => self.app.clone(),
            Step::Site => self.site.clone().or_else(|| self.prefer_site.clone()),
            Step::Device => self.device.clone().or_else(|| {
                // Prefer a device only when it is at the chosen site.
                self.prefer_device.clone()
            }),
            Step::Profile => self.profile.clone(),
            Step::Params => None,
        };
        self.cursor = self
            .choices(snapshot)
            .iter()
            .position(|c| c.key.is_some() && c.key == current)
            .unwrap_or(0);
    }

    /// Fill the fields from the app's description, unless already filled.
    pub(crate) fn fill(&mut self, description: &Value) {
        if self.fields.is_none() {
            self.fields = Some(fields(description));
            self.field = 0;
        }
    }

    /// The field with the cursor.
    pub(crate) fn focused(&mut self) -> Option<&mut Field> {
        let at = self.field;
        self.fields.as_mut().and_then(|f| f.get_mut(at))
    }

    /// The request this form describes. Only values that differ from the
    /// description's defaults go in `set`: the CO applies the defaults
    /// itself, converting and checking each value against its schema.
    pub(crate) fn request(&self) -> Option<DeployRequest> {
        let set: BTreeMap<String, String> = self
            .fields
            .iter()
            .flatten()
            .filter(|f| f.value != f.default)
            .map(|f| (f.parameter.clone(), f.value.clone()))
            .collect();
        Some(DeployRequest {
            app: self.app.clone()?,
            version: None,
            site: self.site.clone()?,
            device: self.device.clone(),
            selector: BTreeMap::new(),
            set,
            deploy_type: self.profile.clone(),
            name: None,
            rollout: None,
            dry_run: false,
            allow_unreported: false,
        })
    }
}

/// The user-facing parameters of an ApplicationDescription (JSON form): every
/// `configuration.sections[].settings[]` entry, in order, with its schema's
/// data type and the default `parameters.<name>.value`.
pub(crate) fn fields(description: &Value) -> Vec<Field> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let configuration = description.get("configuration");
    let schemas: Vec<&Value> = configuration
        .and_then(|c| c.get("schema"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let sections = configuration
        .and_then(|c| c.get("sections"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for setting in sections
        .iter()
        .filter_map(|s| s.get("settings").and_then(Value::as_array))
        .flatten()
    {
        let parameter = text(setting, "parameter");
        if parameter.is_empty() || out.iter().any(|f: &Field| f.parameter == parameter) {
            continue;
        }
        let schema = text(setting, "schema");
        let data_type = schemas
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(schema.as_str()))
            .map(|s| text(s, "dataType"))
            .unwrap_or_default();
        let default = description
            .get("parameters")
            .and_then(|p| p.get(&parameter))
            .and_then(|p| p.get("value"))
            .map(value_text)
            .unwrap_or_default();
        out.push(Field {
            label: Some(text(setting, "name"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| parameter.clone()),
            description: text(setting, "description"),
            parameter,
            data_type,
            value: default.clone(),
            default,
        });
    }
    out
}

/// A JSON value as the text a user would type for it.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
