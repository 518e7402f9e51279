//! Whether a README's own HTML is tame enough to hand to an HTML parser.
//!
//! Safety does not depend on this (ammonia decides what survives); time and memory
//! do. An HTML parser does work in proportion to the depth of the open elements for
//! each one it opens, and re-creates every formatting element (`<b>`, `<i>`, …) that
//! is still active each time text follows an end tag that closed it: thousands of
//! nested `<div>`s, or unclosed `<b>`s with distinct attributes followed by many
//! paragraphs, make megabytes of output and seconds of work from a few kilobytes.
//! Real READMEs use a few hundred tags, shallowly, and close what they open.
//!
//! So the raw HTML is read here first, by a small lexer that knows comments, quoted
//! attribute values and end tags that close nothing, and a README whose HTML is not
//! tame has its HTML shown as text. Tags whose content the parser reads by other rules
//! (`script`, `textarea`, `svg`, …), which a README does not need, are not tame
//! either, so that nothing can hide an end tag from this lexer.

/// The most tags a README's own HTML may have.
const MAX_TAGS: usize = 2_000;
/// The longest tag, attributes included.
const MAX_TAG_BYTES: usize = 1_024;
/// The deepest the README's own elements may nest.
const MAX_DEPTH: usize = 64;
/// The most formatting elements that may be open at once; none may stay open past the
/// end of the Markdown block that opened it.
const MAX_OPEN_FORMATTING: usize = 8;

/// The parser's formatting elements, which it re-creates while they are active.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Elements without content: they open nothing.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose content is read as text or as foreign content, where an end tag is
/// not what it seems.
const OTHER_RULES: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "template",
    "svg",
    "math",
    "select",
    "option",
];

/// Reads a README's raw HTML, chunk by chunk (pulldown-cmark's `Html` and
/// `InlineHtml` events, in order), and the ends of its Markdown blocks.
#[derive(Debug, Default)]
pub(super) struct RawHtmlCheck {
    tags: usize,
    /// The names of the elements open, innermost last.
    open: Vec<String>,
    /// The formatting elements open, innermost last.
    formatting: Vec<String>,
    /// A tag that has begun and not ended yet (tags may span lines, and so chunks).
    in_tag: Option<TagScan>,
    in_comment: bool,
    untamed: bool,
}

/// Where the lexer is inside a tag.
#[derive(Debug, Clone, Copy, Default)]
struct TagScan {
    bytes: usize,
    /// The quote of the attribute value being read.
    quote: Option<u8>,
    /// Whether the last byte that was not a space was `=` (a quote there opens a value).
    after_equals: bool,
}

impl RawHtmlCheck {
    /// Whether everything read so far is tame.
    pub(super) fn tame(&self) -> bool {
        !self.untamed
    }

    /// The end of a Markdown block: no formatting element may stay open past it.
    pub(super) fn block_ended(&mut self) {
        if !self.formatting.is_empty() {
            self.untamed = true;
        }
    }

    /// Reads the next chunk of raw HTML.
    pub(super) fn feed(&mut self, chunk: &str) {
        let bytes = chunk.as_bytes();
        let mut at = 0;
        while at < bytes.len() && !self.untamed {
            if self.in_comment {
                match chunk[at..].find("-->") {
                    Some(end) => {
                        at += end + 3;
                        self.in_comment = false;
                    }
                    None => return,
                }
                continue;
            }
            if let Some(scan) = self.in_tag {
                let (consumed, ended, scan) = scan.read(&bytes[at..]);
                if scan.bytes > MAX_TAG_BYTES {
                    self.untamed = true;
                    return;
                }
                self.in_tag = (!ended).then_some(scan);
                at += consumed;
                continue;
            }
            let Some(open) = chunk[at..].find('<') else {
                return;
            };
            at += open;
            if chunk[at..].starts_with("<!--") {
                self.in_comment = true;
                at += 4;
                continue;
            }
            let closing = bytes.get(at + 1) == Some(&b'/');
            let name_at = at + 1 + usize::from(closing);
            let name: String = chunk[name_at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                // `<` as text, `<!DOCTYPE`, `<?…`: the parser opens nothing.
                at += 1;
                continue;
            }
            at = name_at + name.len();
            self.in_tag = Some(TagScan {
                bytes: at - name_at,
                ..TagScan::default()
            });
            self.tag(name, closing);
        }
    }

    fn tag(&mut self, name: String, closing: bool) {
        self.tags += 1;
        if self.tags > MAX_TAGS || OTHER_RULES.contains(&name.as_str()) {
            self.untamed = true;
            return;
        }
        let formatting = FORMATTING.contains(&name.as_str());
        if closing {
            // An end tag closes the innermost element of its name, if one is open;
            // otherwise it closes nothing (and takes nothing off the depth).
            if let Some(position) = self.open.iter().rposition(|open| *open == name) {
                self.open.truncate(position);
            }
            if formatting
                && let Some(position) = self.formatting.iter().rposition(|open| *open == name)
            {
                self.formatting.remove(position);
            }
        } else if !VOID.contains(&name.as_str()) {
            if formatting {
                self.formatting.push(name.clone());
            }
            self.open.push(name);
            if self.open.len() > MAX_DEPTH || self.formatting.len() > MAX_OPEN_FORMATTING {
                self.untamed = true;
            }
        }
    }
}

impl TagScan {
    /// Reads `bytes` from inside a tag: how many were consumed, whether the tag ended
    /// (at a `>` outside a quoted value), and the state after them.
    fn read(mut self, bytes: &[u8]) -> (usize, bool, TagScan) {
        for (index, &byte) in bytes.iter().enumerate() {
            self.bytes += 1;
            match self.quote {
                Some(quote) if byte == quote => self.quote = None,
                None if byte == b'>' => return (index + 1, true, self),
                None if matches!(byte, b'"' | b'\'') && self.after_equals => {
                    self.quote = Some(byte);
                }
                // Inside a value, or an attribute's name or unquoted value.
                _ => {}
            }
            if !byte.is_ascii_whitespace() {
                self.after_equals = byte == b'=' && self.quote.is_none();
            }
        }
        (bytes.len(), false, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tame(chunks: &[&str]) -> bool {
        let mut check = RawHtmlCheck::default();
        for chunk in chunks {
            check.feed(chunk);
        }
        check.block_ended();
        check.tame()
    }

    #[test]
    fn what_readmes_write_is_tame() {
        assert!(tame(&[
            "<p align=\"center\">",
            "  <img src=\"https://x/logo.png\" width=\"120\">",
            "</p>",
        ]));
        assert!(tame(&[
            "<!-- <b> <div> -->",
            "<details><summary>More</summary>"
        ]));
        assert!(tame(&["<b title=\"a > b\">x</b>", "<a href='x'>y</a>"]));
        assert!(tame(&[&"<div>".repeat(MAX_DEPTH)]));
        assert!(tame(&["<table><tr><td>1</td></tr></table>"]));
    }

    #[test]
    fn bombs_are_not_tame() {
        // Deeper than allowed, also when end tags close nothing.
        assert!(!tame(&[&"<div>".repeat(MAX_DEPTH + 1)]));
        assert!(!tame(&[&"<div></x>".repeat(MAX_DEPTH + 1)]));
        // Formatting elements left open past their block, or too many at once.
        assert!(!tame(&["<b a=1>x"]));
        let open = (0..=MAX_OPEN_FORMATTING)
            .map(|n| format!("<b a={n}>"))
            .collect::<Vec<_>>()
            .concat();
        assert!(!tame(&[&open]));
        // An end tag hidden in a quoted value or a comment closes nothing.
        assert!(!tame(&["<b title=\"</b>\">"]));
        assert!(!tame(&["<b><!-- </b> -->"]));
        // Content read by other rules, many tags, long tags (also across chunks).
        assert!(!tame(&["<textarea></b></textarea>"]));
        assert!(!tame(&["<svg><b></b></svg>"]));
        assert!(!tame(&[&"<br>".repeat(MAX_TAGS + 1)]));
        assert!(!tame(&[&format!("<div {}>", "a ".repeat(MAX_TAG_BYTES))]));
        assert!(!tame(&["<div", &" a".repeat(MAX_TAG_BYTES / 2 + 1), ">"]));
    }
}
