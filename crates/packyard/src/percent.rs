//! Percent-decoding, for query strings (where `+` is a space) and URL userinfo (where it
//! is a `+`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `application/x-www-form-urlencoded`: query strings.
    Space,
    /// Every other part of a URL.
    Literal,
}

/// `value` with each `%XX` decoded; a `%` not followed by two hex digits stays as it is,
/// and bytes that are not UTF-8 become U+FFFD.
pub fn decode(value: &str, plus: Plus) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) if plus == Plus::Space => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_plus_signs() {
        assert_eq!(decode("a%3Ab+c%2", Plus::Space), "a:b c%2");
        assert_eq!(decode("p%40ss+word", Plus::Literal), "p@ss+word");
    }
}
