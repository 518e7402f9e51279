//! What a form just did, said on the page it leads back to.
//!
//! Forms follow Post/Redirect/Get: a change that worked answers `303 See Other` to the
//! page that shows the result, so that reloading it does not post again. The redirect
//! carries `?done=KIND&name=NAME` ([`redirect`]) and that page turns it into one
//! sentence ([`Done::notice`]), shown in a `role="status"` message.
//!
//! A link can carry the same query, so a page says the sentence only when its own state
//! agrees with it (a grant said to be saved is among the group's grants, a member said
//! to be removed is not among its members): a crafted link cannot make a page claim a
//! change that did not happen. The name is the page's own text, escaped like any other.

use axum::response::Response;
use serde::Deserialize;

use super::session::see_other;

/// The changes a page can confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Granted,
    Revoked,
    MemberAdded,
    MemberRemoved,
    SettingsSaved,
    GroupRemoved,
    UserSaved,
    UserRemoved,
    Uploaded,
    TokenRevoked,
}

impl Done {
    const ALL: [Done; 10] = [
        Done::Granted,
        Done::Revoked,
        Done::MemberAdded,
        Done::MemberRemoved,
        Done::SettingsSaved,
        Done::GroupRemoved,
        Done::UserSaved,
        Done::UserRemoved,
        Done::Uploaded,
        Done::TokenRevoked,
    ];

    /// Its name in the query string.
    fn key(self) -> &'static str {
        match self {
            Done::Granted => "granted",
            Done::Revoked => "revoked",
            Done::MemberAdded => "member-added",
            Done::MemberRemoved => "member-removed",
            Done::SettingsSaved => "settings-saved",
            Done::GroupRemoved => "group-removed",
            Done::UserSaved => "user-saved",
            Done::UserRemoved => "user-removed",
            Done::Uploaded => "uploaded",
            Done::TokenRevoked => "token-revoked",
        }
    }

    /// The sentence that confirms it, naming `name`.
    fn sentence(self, name: &str) -> String {
        match self {
            Done::Granted => format!("Saved the grant of {name}."),
            Done::Revoked => format!("Revoked the grant of {name}."),
            Done::MemberAdded => format!("Added {name} to the group."),
            Done::MemberRemoved => format!("Removed {name} from the group."),
            Done::SettingsSaved => "Saved the settings.".to_owned(),
            Done::GroupRemoved => format!("Removed the group {name}."),
            Done::UserSaved => "Saved the user.".to_owned(),
            Done::UserRemoved => format!("Removed the user {name}."),
            Done::Uploaded => format!("Uploaded {name}."),
            Done::TokenRevoked => format!("Revoked the token {name}."),
        }
    }
}

/// The `done` and `name` of a page's query string; unknown values are ignored.
#[derive(Debug, Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
    #[serde(default)]
    name: String,
}

impl DoneQuery {
    /// What was done and to what, if the query says something known.
    pub fn get(&self) -> Option<(Done, &str)> {
        let done = self.done.as_deref()?;
        let done = Done::ALL.into_iter().find(|d| d.key() == done)?;
        Some((done, self.name.as_str()))
    }

    /// The sentence to show, when `holds(done, name)` confirms that the page's state
    /// agrees; empty (nothing shown) otherwise.
    pub fn notice(&self, holds: impl FnOnce(Done, &str) -> bool) -> String {
        match self.get() {
            Some((done, name)) if holds(done, name) => done.sentence(name),
            _ => String::new(),
        }
    }
}

/// The query of a page shown with nothing done: a form shown again with its problem,
/// or a page that says what was made itself (a user just created).
pub static NOTHING_DONE: DoneQuery = DoneQuery {
    done: None,
    name: String::new(),
};

/// `303 See Other` to `path` (a path without a query), saying that `done` happened
/// to `name`.
pub fn redirect(path: &str, done: Done, name: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done.key())
        .append_pair("name", name)
        .finish();
    see_other(&format!("{path}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(done: &str, name: &str) -> DoneQuery {
        DoneQuery {
            done: Some(done.to_owned()),
            name: name.to_owned(),
        }
    }

    #[test]
    fn every_kind_reads_back_from_its_key() {
        for done in Done::ALL {
            assert_eq!(query(done.key(), "x").get(), Some((done, "x")));
        }
    }

    #[test]
    fn a_notice_is_said_only_when_the_page_agrees() {
        let granted = query("granted", "acme/lib");
        assert_eq!(
            granted.notice(|done, name| done == Done::Granted && name == "acme/lib"),
            "Saved the grant of acme/lib."
        );
        assert_eq!(granted.notice(|_, _| false), "");
        assert_eq!(query("rm -rf", "acme/lib").notice(|_, _| true), "");
        assert_eq!(DoneQuery::default().notice(|_, _| true), "");
    }

    #[test]
    fn the_redirect_encodes_the_name() {
        let response = redirect("/admin/groups/a", Done::Uploaded, "acme/lib 1.0 & more");
        assert_eq!(
            response.headers()["location"],
            "/admin/groups/a?done=uploaded&name=acme%2Flib+1.0+%26+more"
        );
    }
}
