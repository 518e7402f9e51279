//! The storage crate's integration tests, in one binary: each file of this folder is a
//! module (`cargo test -p storage --test integration outage::` runs one of them), so
//! the crate is linked once for all of them. A new file becomes a module here.

mod backends;
mod gcs_emulator;
mod outage;
mod slow_link;
mod web_identity_moto;
