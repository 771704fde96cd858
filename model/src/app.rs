//! `ApplicationDescription`: the `margo.yaml` an application package carries,
//! which the app store lists and turns into deployments.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{
    Obj, keys, obj, opt, opt_list, opt_obj, opt_str, pattern, req_list, req_obj, req_text, string,
    unique,
};
use crate::document::{DocumentKind, MargoDocument};
use crate::id::{APP_ID, AppId};
use crate::issue::{Report, Rule, field, index};
use crate::profile::{
    Component, DeviceConstraints, Extensions, Parameter, ProfileType, check_components,
    check_constraints, check_parameters, check_required_resources, check_type, normalize_profile,
};
use crate::schema::{Configuration, check_configuration};

/// The application description (rc.3 form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDescription {
    /// Schema version, such as `margo.org/v1-alpha1`.
    pub api_version: String,
    /// Always `ApplicationDescription`.
    pub kind: String,
    /// Identity and catalog data.
    pub metadata: AppMetadata,
    /// Ways to deploy the application; a device uses one.
    pub deployment_profiles: Vec<DeploymentProfile>,
    /// Parameters and where they are applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    /// Settings people may change, and their rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Configuration>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `metadata` of an application description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    /// The application id.
    pub id: AppId,
    /// Display name.
    pub name: String,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Package version (equals its OCI tag).
    pub version: String,
    /// Catalog data.
    pub catalog: Catalog,
}

/// Catalog data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    /// Files and texts shown in a catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<CatalogApplication>,
    /// Authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub author: Vec<Author>,
    /// Publishing organizations (at least one).
    pub organization: Vec<Organization>,
}

/// Catalog files (package-relative paths) and texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CatalogApplication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl CatalogApplication {
    /// The catalog fields that name files in the package, with their field names.
    #[must_use]
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        [
            ("descriptionFile", &self.description_file),
            ("icon", &self.icon),
            ("licenseFile", &self.license_file),
            ("releaseNotes", &self.release_notes),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// An author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Author {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A publishing organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Organization {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// One way to deploy the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentProfile {
    /// How the components are deployed.
    #[serde(rename = "type")]
    pub profile_type: ProfileType,
    /// Profile id, unique within the description (absent in early drafts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Description (must explain any `other` architecture used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Components, installed in this order.
    pub components: Vec<Component>,
    /// What a device must offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_constraints: Option<DeviceConstraints>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl ApplicationDescription {
    /// The application id.
    #[must_use]
    pub fn id(&self) -> &AppId {
        &self.metadata.id
    }

    /// The first profile of the given type.
    #[must_use]
    pub fn profile(&self, t: ProfileType) -> Option<&DeploymentProfile> {
        self.deployment_profiles
            .iter()
            .find(|p| p.profile_type == t)
    }

    /// The schema entry that governs `parameter`, if a setting names it.
    #[must_use]
    pub fn schema_for(&self, parameter: &str) -> Option<&crate::schema::SchemaEntry> {
        let c = self.configuration.as_ref()?;
        let setting = c
            .sections
            .iter()
            .flat_map(|s| &s.settings)
            .find(|s| s.parameter == parameter)?;
        c.schema.iter().find(|e| e.name == setting.schema)
    }
}

impl MargoDocument for ApplicationDescription {
    const KIND: DocumentKind = DocumentKind::ApplicationDescription;

    fn check(r: &mut Report, m: &Obj) {
        keys(
            r,
            m,
            "",
            &[
                "apiVersion",
                "kind",
                "id",
                "metadata",
                "deploymentProfiles",
                "parameters",
                "configuration",
            ],
        );
        req_text(r, m, "", "apiVersion");
        crate::check::kind(r, m, &["ApplicationDescription"], true);
        let top_id = opt_str(r, m, "", "id");
        if let Some(id) = top_id {
            pattern(r, id, "id", &APP_ID, AppId::RULE);
        }
        if let Some(meta) = req_obj(r, m, "", "metadata") {
            check_metadata(r, meta, top_id);
        }
        let mut all_components = HashSet::new();
        let mut profile_ids = Vec::new();
        for (i, p) in req_list(r, m, "", "deploymentProfiles")
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = index("deploymentProfiles", i);
            let Some(p) = obj(r, p, &at) else { continue };
            keys(
                r,
                p,
                &at,
                &[
                    "type",
                    "id",
                    "description",
                    "components",
                    "deviceConstraints",
                    "requiredResources",
                ],
            );
            check_type(r, p, &at);
            match opt_str(r, p, &at, "id") {
                Some(id) => profile_ids.push((i, id)),
                None if opt(p, "id").is_none() => r.note(
                    field(&at, "id"),
                    Rule::Era,
                    "profiles have an `id` since Margo rc.3; this one has none",
                ),
                None => {}
            }
            opt_str(r, p, &at, "description");
            all_components.extend(check_components(r, p, &at).into_iter().map(|(_, n)| n));
            if let Some(dc) = opt_obj(r, p, &at, "deviceConstraints") {
                check_constraints(r, dc, &field(&at, "deviceConstraints"));
            }
            if let Some(rr) = opt_obj(r, p, &at, "requiredResources") {
                check_required_resources(r, rr, &field(&at, "requiredResources"));
            }
        }
        unique(r, profile_ids, "deploymentProfiles", "id", "profile id");
        if let Some(params) = opt(m, "parameters") {
            check_parameters(r, params, "parameters", &all_components, false);
        }
        if let Some(c) = opt_obj(r, m, "", "configuration") {
            check_configuration(r, c, "configuration");
        }
    }

    fn check_typed(&self, r: &mut Report) {
        let Some(c) = &self.configuration else { return };
        let mut seen = HashSet::new();
        for (i, s) in c.sections.iter().enumerate() {
            for (j, st) in s.settings.iter().enumerate() {
                let at = format!("configuration.sections[{i}].settings[{j}].parameter");
                if !self.parameters.contains_key(&st.parameter) {
                    r.error(
                        &at,
                        Rule::Reference,
                        format!("no parameter is named `{}`", st.parameter),
                    );
                } else if !seen.insert(st.parameter.as_str()) {
                    r.error(
                        &at,
                        Rule::Unique,
                        format!("parameter `{}` already has a setting", st.parameter),
                    );
                }
            }
        }
        for (name, p) in &self.parameters {
            let (Some(value), Some(entry)) = (&p.value, self.schema_for(name)) else {
                continue;
            };
            if let Err(msg) = entry.check(value) {
                r.error(
                    format!("parameters.{name}.value"),
                    Rule::SchemaValue,
                    format!("default {msg} (schema `{}`)", entry.name),
                );
            }
        }
    }

    fn normalize(mut m: Map<String, Value>) -> Map<String, Value> {
        if let Some(id) = m.remove("id")
            && let Some(Value::Object(meta)) = m.get_mut("metadata")
        {
            meta.entry("id").or_insert(id);
        }
        if let Some(Value::Array(profiles)) = m.get_mut("deploymentProfiles") {
            for p in profiles.iter_mut().filter_map(Value::as_object_mut) {
                normalize_profile(p);
            }
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata")
            && let Some(v @ Value::Number(_)) = meta.get("version").cloned().as_ref()
        {
            meta.insert("version".into(), Value::String(v.to_string()));
        }
        m
    }
}

fn check_metadata(r: &mut Report, meta: &Obj, top_id: Option<&str>) {
    let at = "metadata";
    keys(
        r,
        meta,
        at,
        &["id", "name", "description", "version", "catalog"],
    );
    match (opt_str(r, meta, at, "id"), top_id) {
        (Some(id), top) => {
            pattern(r, id, "metadata.id", &APP_ID, AppId::RULE);
            if top.is_some_and(|t| t != id) {
                r.error(
                    "id",
                    Rule::Reference,
                    "top-level `id` differs from `metadata.id`",
                );
            }
        }
        (None, Some(_)) => {}
        (None, None) => r.error("metadata.id", Rule::Required, "`id` is required"),
    }
    req_text(r, meta, at, "name");
    opt_str(r, meta, at, "description");
    match opt(meta, "version") {
        Some(Value::String(v)) if !v.trim().is_empty() => {}
        Some(Value::Number(n)) => r.note(
            "metadata.version",
            Rule::Type,
            format!("version {n} is a YAML number; quote it so it stays text"),
        ),
        _ => {
            req_text(r, meta, at, "version");
        }
    }
    let Some(cat) = req_obj(r, meta, at, "catalog") else {
        return;
    };
    let cat_at = "metadata.catalog";
    keys(r, cat, cat_at, &["application", "author", "organization"]);
    if let Some(app) = opt_obj(r, cat, cat_at, "application") {
        let app_at = "metadata.catalog.application";
        keys(
            r,
            app,
            app_at,
            &[
                "descriptionFile",
                "icon",
                "licenseFile",
                "releaseNotes",
                "site",
                "tagline",
                "tags",
            ],
        );
        for key in [
            "descriptionFile",
            "icon",
            "licenseFile",
            "releaseNotes",
            "site",
            "tagline",
        ] {
            opt_str(r, app, app_at, key);
        }
        let tags_at = field(app_at, "tags");
        for (i, t) in opt_list(r, app, app_at, "tags")
            .into_iter()
            .flatten()
            .enumerate()
        {
            string(r, t, &index(&tags_at, i));
        }
    }
    let authors_at = field(cat_at, "author");
    for (i, a) in opt_list(r, cat, cat_at, "author")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let aat = index(&authors_at, i);
        let Some(a) = obj(r, a, &aat) else { continue };
        keys(r, a, &aat, &["name", "email"]);
        req_text(r, a, &aat, "name");
        if let Some(email) = opt_str(r, a, &aat, "email")
            && !email.contains('@')
        {
            r.error(
                field(&aat, "email"),
                Rule::Pattern,
                format!("`{email}` is not an e-mail address"),
            );
        }
    }
    let orgs_at = field(cat_at, "organization");
    for (i, o) in req_list(r, cat, cat_at, "organization")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let oat = index(&orgs_at, i);
        let Some(o) = obj(r, o, &oat) else { continue };
        keys(r, o, &oat, &["name", "site"]);
        req_text(r, o, &oat, "name");
        opt_str(r, o, &oat, "site");
    }
}
