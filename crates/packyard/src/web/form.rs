//! Posted forms as name/value pairs: repeated fields (checkbox lists) are kept, which
//! a struct form would collapse to one value.

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value.trim()))
            .unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Whether the checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// The CSRF token the form carried.
    pub fn csrf(&self) -> &str {
        self.get("csrf")
    }

    /// `name` as a moment (a date such as 2026-12-31, a time or a span such as 30d);
    /// `Ok(None)` when empty.
    pub fn moment(&self, name: &str, label: &str) -> Result<Option<i64>, String> {
        let text = self.get(name);
        if text.is_empty() {
            return Ok(None);
        }
        crate::time::parse_moment(text, crate::db::now_millis())
            .map(Some)
            .ok_or_else(|| {
                format!("{label}: {text:?} is not a date (2026-12-31), a time or a span (30d)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_repeated_values() {
        let fields: Fields =
            serde_urlencoded_like("csrf=t&scope=metadata&scope=mirror%3Aread&name=+ci+&box=on");
        assert_eq!(fields.csrf(), "t");
        assert_eq!(fields.all("scope"), ["metadata", "mirror:read"]);
        assert_eq!(fields.get("name"), "ci");
        assert!(fields.checked("box"));
        assert!(!fields.checked("other"));
        assert_eq!(fields.moment("missing", "x"), Ok(None));
        assert!(
            fields
                .moment("name", "expires")
                .unwrap_err()
                .starts_with("expires: \"ci\"")
        );
    }

    fn serde_urlencoded_like(body: &str) -> Fields {
        Fields(
            form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
}
