//! The values Packeton stores in its `array` columns: JSON since late 2023, PHP
//! `serialize()` strings before (`a:1:{i:0;s:10:"ROLE_ADMIN";}`). Rows of both ages
//! sit side by side in old databases. Only what those columns hold is read — arrays,
//! strings, integers, floats, booleans and null — into JSON values; objects
//! (`O:`) and references are refused, as nothing Packeton writes there has them.

use serde_json::{Map, Value};

/// Why a stored value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON or PHP-serialized array value at byte {0}")]
pub struct Unreadable(pub usize);

/// Deepest nesting read: a stored value is small, and recursion must stay bounded.
const MAX_DEPTH: usize = 64;

/// The value of an `array` column: JSON, or a PHP-serialized string when it starts as
/// one does (`a:`, `s:`, `i:`, `b:`, `d:`, `N;`).
pub fn array_column(text: &str) -> Result<Value, Unreadable> {
    let trimmed = text.trim();
    let serialized = ["a:", "s:", "i:", "b:", "d:", "N;"]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix));
    if !serialized {
        return serde_json::from_str(trimmed).map_err(|_| Unreadable(0));
    }
    let mut reader = Reader {
        bytes: trimmed.as_bytes(),
        at: 0,
    };
    let value = reader.value(0)?;
    if reader.at != reader.bytes.len() {
        return Err(Unreadable(reader.at));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn value(&mut self, depth: usize) -> Result<Value, Unreadable> {
        if depth > MAX_DEPTH {
            return Err(Unreadable(self.at));
        }
        let kind = self.byte()?;
        match kind {
            b'N' => {
                self.expect(b';')?;
                Ok(Value::Null)
            }
            b'b' => {
                self.expect(b':')?;
                let flag = self.until(b';')?;
                Ok(Value::Bool(flag == "1"))
            }
            b'i' => {
                self.expect(b':')?;
                let number: i64 = self.until(b';')?.parse().map_err(|_| Unreadable(self.at))?;
                Ok(Value::from(number))
            }
            b'd' => {
                self.expect(b':')?;
                let number: f64 = self.until(b';')?.parse().map_err(|_| Unreadable(self.at))?;
                Ok(serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number))
            }
            b's' => {
                self.expect(b':')?;
                Ok(Value::String(self.string()?))
            }
            b'a' => {
                self.expect(b':')?;
                let count: usize = self.until(b':')?.parse().map_err(|_| Unreadable(self.at))?;
                self.expect(b'{')?;
                let mut entries = Vec::new();
                for _ in 0..count {
                    let key = match self.value(depth + 1)? {
                        Value::String(key) => Key::Name(key),
                        Value::Number(n) => Key::Index(n.as_i64().ok_or(Unreadable(self.at))?),
                        _ => return Err(Unreadable(self.at)),
                    };
                    entries.push((key, self.value(depth + 1)?));
                }
                self.expect(b'}')?;
                Ok(as_json(entries))
            }
            _ => Err(Unreadable(self.at - 1)),
        }
    }

    /// `LEN:"…";`, LEN counting bytes.
    fn string(&mut self) -> Result<String, Unreadable> {
        let length: usize = self.until(b':')?.parse().map_err(|_| Unreadable(self.at))?;
        self.expect(b'"')?;
        let end = self.at.checked_add(length).ok_or(Unreadable(self.at))?;
        let text = self.bytes.get(self.at..end).ok_or(Unreadable(self.at))?;
        let text = String::from_utf8(text.to_vec()).map_err(|_| Unreadable(self.at))?;
        self.at = end;
        self.expect(b'"')?;
        self.expect(b';')?;
        Ok(text)
    }

    fn byte(&mut self) -> Result<u8, Unreadable> {
        let byte = *self.bytes.get(self.at).ok_or(Unreadable(self.at))?;
        self.at += 1;
        Ok(byte)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), Unreadable> {
        if self.byte()? == wanted {
            Ok(())
        } else {
            Err(Unreadable(self.at - 1))
        }
    }

    /// The text up to `end`, which is consumed.
    fn until(&mut self, end: u8) -> Result<&str, Unreadable> {
        let start = self.at;
        let length = self.bytes[start..]
            .iter()
            .position(|&b| b == end)
            .ok_or(Unreadable(start))?;
        self.at = start + length + 1;
        std::str::from_utf8(&self.bytes[start..start + length]).map_err(|_| Unreadable(start))
    }
}

enum Key {
    Index(i64),
    Name(String),
}

/// A PHP array as JSON: a list when its keys are 0, 1, 2, … in order (as PHP's
/// `json_encode` decides), an object otherwise.
fn as_json(entries: Vec<(Key, Value)>) -> Value {
    let is_list = entries
        .iter()
        .enumerate()
        .all(|(i, (key, _))| matches!(key, Key::Index(n) if usize::try_from(*n) == Ok(i)));
    if is_list {
        return Value::Array(entries.into_iter().map(|(_, value)| value).collect());
    }
    let mut object = Map::new();
    for (key, value) in entries {
        let key = match key {
            Key::Index(n) => n.to_string(),
            Key::Name(name) => name,
        };
        object.insert(key, value);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_ages_of_an_array_column_are_read() {
        let cases = [
            (
                r#"["ROLE_ADMIN","ROLE_SUPER_ADMIN"]"#,
                json!(["ROLE_ADMIN", "ROLE_SUPER_ADMIN"]),
            ),
            ("a:0:{}", json!([])),
            (r#"a:1:{i:0;s:10:"ROLE_ADMIN";}"#, json!(["ROLE_ADMIN"])),
            (
                r#"a:1:{s:12:"branch-alias";a:1:{s:10:"dev-master";s:7:"1.x-dev";}}"#,
                json!({"branch-alias": {"dev-master": "1.x-dev"}}),
            ),
            (
                r#"a:4:{i:1;s:1:"x";s:1:"n";N;s:1:"b";b:1;s:1:"d";d:0.5;}"#,
                json!({"1": "x", "n": null, "b": true, "d": 0.5}),
            ),
            // Lengths count bytes, not characters.
            (r#"a:1:{i:0;s:5:"Jürg";}"#, json!(["Jürg"])),
        ];
        for (stored, expected) in cases {
            assert_eq!(array_column(stored), Ok(expected), "{stored}");
        }
    }

    #[test]
    fn what_is_not_such_a_value_is_refused() {
        for bad in [
            r#"a:1:{i:0;s:99:"short";}"#,
            r#"a:2:{i:0;s:1:"x";}"#,
            r#"O:8:"stdClass":0:{}"#,
            r#"a:1:{i:0;s:1:"x";}trailing"#,
            "{not json",
            &"a:1:{i:0;".repeat(100),
        ] {
            assert!(array_column(bad).is_err(), "{bad}");
        }
    }
}
