//! Supply-chain protection on the server, where it works with every Composer client:
//! published versions that cannot change underneath a lock file (`immutable`),
//! versions nobody may install (`blocks`), and cooldowns before new versions are
//! offered (`release_age`).

pub mod blocks;
pub mod immutable;
pub mod mirrored;
pub mod plugins;
pub mod release_age;

pub use immutable::Immutability;

/// The supply-chain settings of `Settings`.
#[derive(Debug, Clone, Copy)]
pub struct SupplyChainSettings {
    /// `PACKYARD_IMMUTABLE_VERSIONS` (default `stable`).
    pub immutable_versions: Immutability,
    /// `PACKYARD_RELEASE_AGE_EXEMPT_FIXES` (default on): a version that fixes a
    /// published advisory passes every cooldown.
    pub release_age_exempt_fixes: bool,
    /// `plugins:` at the top of `PACKYARD_CONFIG`: whether packyard's own plugins need
    /// approval.
    pub plugins: plugins::PluginPolicy,
}

impl Default for SupplyChainSettings {
    fn default() -> Self {
        SupplyChainSettings {
            immutable_versions: Immutability::default(),
            release_age_exempt_fixes: true,
            plugins: plugins::PluginPolicy::default(),
        }
    }
}
