//! testkit's self-tests, in one binary: each file of this folder is a module
//! (`cargo test -p testkit --test integration browser::` runs one of them). A new file
//! becomes a module here.

mod browser;
mod ldap;
mod oidc_provider;
mod upstream;
