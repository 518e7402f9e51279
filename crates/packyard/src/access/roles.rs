//! The roles routes require, one predicate each, shared by the API's extractors
//! (`http::access::Admin`, `Maintainer`) and the web UI's (`web::form::SignedIn`,
//! `PostedForm`): a role means the same over JSON and HTML.

use crate::db::User;

/// A role a route needs.
pub trait Role {
    /// Whether `user` has the role.
    fn allows(user: &User) -> bool;
    /// One holder, for messages: "an admin".
    const ONE: &'static str;
    /// The refusal shown to a signed-in user without it.
    const REFUSAL: &'static str;
}

/// Any signed-in user.
pub enum AnyUser {}
/// Maintainers and admins: may add and update packages.
pub enum Maintainers {}
/// Admins.
pub enum Admins {}

impl Role for AnyUser {
    fn allows(_: &User) -> bool {
        true
    }
    const ONE: &'static str = "a user";
    const REFUSAL: &'static str = "";
}

impl Role for Maintainers {
    fn allows(user: &User) -> bool {
        user.is_admin || user.is_maintainer
    }
    const ONE: &'static str = "a maintainer";
    const REFUSAL: &'static str = "Only maintainers and admins may do this.";
}

impl Role for Admins {
    fn allows(user: &User) -> bool {
        user.is_admin
    }
    const ONE: &'static str = "an admin";
    const REFUSAL: &'static str = "Only admins may do this.";
}
