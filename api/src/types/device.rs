//! What a client reads out of a [`Device`] record beyond its fields: the
//! deployment types its capabilities report says it runs, read by the
//! model's one reader of our extension (`edge_model::artifact`).

use super::Device;

impl Device {
    /// The deployment types its last capabilities report says it runs (our
    /// own read from `custom` and `x-edgectl-extensions`, as placement reads
    /// them; an earlier release's report lists them directly); none before
    /// it reported.
    #[must_use]
    pub fn deployment_types(&self) -> Vec<String> {
        self.capabilities
            .as_ref()
            .map(edge_model::artifact::deployment_types)
            .unwrap_or_default()
    }
}
