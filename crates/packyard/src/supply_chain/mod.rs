//! Supply-chain protection on the server, where it works with every Composer client:
//! published versions that cannot change underneath a lock file (`immutable`), and
//! versions nobody may install (`blocks`).

pub mod blocks;
pub mod immutable;

pub use immutable::Immutability;
