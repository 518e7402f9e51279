//! Package READMEs as HTML, for the package pages of the web UI, and the cap on how
//! much of a README is kept, which the readers of READMEs (git scans, uploads) apply.
//!
//! A README is written by whoever publishes the package, so it is untrusted input and
//! the HTML made from it must be inert: nothing in it may run script in a viewer's
//! browser. It is sanitised by construction rather than by filtering HTML afterwards:
//! raw HTML is shown as text; only http(s)/mailto/relative URLs survive.
//!
//! In detail:
//!
//! - pulldown-cmark parses the Markdown into events, and `Sanitiser` rewrites them
//!   before pulldown-cmark's renderer turns them into HTML. Raw HTML from the README
//!   (HTML blocks and inline tags) becomes text, which the renderer escapes. The only
//!   `Event::Html` that reaches the renderer is markup this module writes itself, from
//!   fixed strings and escaped values.
//! - A link whose destination is not http, https, mailto or relative renders as its
//!   text alone; such an image renders as its alt text (images allow http, https and
//!   relative only). An image on another host is not loaded (the page's
//!   Content-Security-Policy allows images from this site only, so that a README cannot
//!   plant a tracking pixel that tells a third party who reads it, and when): it
//!   renders as a link to the image, labelled with its alt text (outside a link) or as
//!   its alt text (inside one). The scheme is decided the way a browser's URL parser would see it
//!   (see `safe_url`), erring towards dropping the URL.
//! - Every other tag and attribute comes from pulldown-cmark's renderer, which writes
//!   fixed markup and escapes the values it interpolates. The values the author could
//!   still choose are narrowed here: heading attributes (`{#id .class}`) are not
//!   enabled and are cleared anyway, footnote labels become ids of `[A-Za-z0-9_-]`
//!   under a fixed prefix, and a code block's language (a class name) is kept only
//!   when it is a plain word.
//! - The input is capped at [`MAX_README_BYTES`], so a huge README cannot blow up a
//!   page. pulldown-cmark itself bounds how much reference links can repeat their
//!   destinations, so the output stays proportional to the input.

use std::fmt::Write as _;

use pulldown_cmark::{
    Alignment, CodeBlockKind, CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd,
};

/// The most of a README that is rendered (512 KiB); the rest is dropped silently. Far
/// above any real README, small enough that one cannot make a page enormous.
pub const MAX_README_BYTES: usize = 512 * 1024;

/// Schemes a link may use; anything else (javascript:, data:, vbscript:, file:, …) is
/// dropped. Relative URLs have no scheme and are always kept.
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// Schemes an image may use: a mailto: image means nothing.
const IMAGE_SCHEMES: &[&str] = &["http", "https"];

/// Footnote labels are the author's words; ids under this prefix cannot collide with
/// the page's own ids (or clobber DOM globals that page scripts might read).
const FOOTNOTE_ID_PREFIX: &str = "readme-fn-";

/// Renders a README as an HTML fragment that is safe to embed in a page, its headings
/// at the levels written. At most [`MAX_README_BYTES`] of it are rendered.
pub fn render(markdown: &str) -> String {
    render_limited(markdown, MAX_README_BYTES)
}

/// [`render`] for a page whose own `h1` is its title (the package page): every heading
/// is one level lower than written, `#` an `h2` … `#####` an `h6`, and `######` stays
/// an `h6`, so that the page keeps exactly one `h1`.
pub fn render_below_title(markdown: &str) -> String {
    render_with(markdown, MAX_README_BYTES, 1)
}

/// [`render`] with a different cap: at most `max_bytes` of `markdown` (cut back to a
/// char boundary) are rendered, the rest is dropped silently. A cut may land inside a
/// construct (an open code fence, say); that only changes how the tail renders.
pub fn render_limited(markdown: &str, max_bytes: usize) -> String {
    render_with(markdown, max_bytes, 0)
}

/// Renders at most `max_bytes` of `markdown`, its headings `lower` levels lower than
/// written (never below `h6`).
fn render_with(markdown: &str, max_bytes: usize, lower: u8) -> String {
    let markdown = &markdown[..markdown.floor_char_boundary(max_bytes)];
    let events = Sanitiser::run(Parser::new_ext(markdown, options()), lower);
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// The GitHub-style extensions READMEs commonly use. Deliberately not enabled: heading
/// attributes (they let the author write any attribute, `onclick` included, on a
/// heading), math (no renderer for it here), smart punctuation (it rewrites quotes in
/// text that is often code), metadata blocks, wikilinks, GFM alerts, definition lists,
/// super- and subscript.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
}

/// Rewrites the parser's events so that rendering them cannot produce active content.
///
/// Every `match` here lists all variants without a wildcard on purpose: a variant added
/// by a later pulldown-cmark (one that might carry raw HTML or a URL) then fails to
/// compile instead of passing through unexamined.
#[derive(Default)]
struct Sanitiser<'a> {
    out: Vec<Event<'a>>,
    /// One entry per open link: whether its `<a>` was written (so `</a>` must be too).
    links: Vec<bool>,
    /// An image whose alt text is being collected; its events are not passed on.
    image: Option<PendingImage>,
    table: TableState,
    /// How many levels lower than written headings are rendered.
    lower_headings: u8,
}

struct PendingImage {
    /// The normalised source, `None` when it is not allowed.
    src: Option<String>,
    title: String,
    alt: String,
    /// Tags opened inside the image description and not closed yet.
    depth: usize,
}

/// Where the renderer is in a table; cells are written here (with `align` rather than
/// pulldown-cmark's inline `style`, which a strict Content-Security-Policy blocks).
#[derive(Default)]
struct TableState {
    alignments: Vec<Alignment>,
    in_head: bool,
    cell: usize,
}

impl<'a> Sanitiser<'a> {
    fn run(events: impl Iterator<Item = Event<'a>>, lower_headings: u8) -> Vec<Event<'a>> {
        let mut sanitiser = Sanitiser {
            lower_headings,
            ..Sanitiser::default()
        };
        for event in events {
            sanitiser.event(event);
        }
        sanitiser.out
    }

    fn event(&mut self, event: Event<'a>) {
        if let Some(image) = &mut self.image {
            if image.absorb(event) {
                let image = self.image.take().expect("image is pending");
                self.finish_image(image);
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            // The README's own HTML is shown, escaped, never interpreted. Math is not
            // enabled; if it were, its TeX is text too.
            Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => self.out.push(Event::Text(text)),
            Event::FootnoteReference(label) => self
                .out
                .push(Event::FootnoteReference(footnote_id(&label).into())),
            // Text and code are escaped by the renderer; the rest is fixed markup.
            event @ (Event::Text(_)
            | Event::Code(_)
            | Event::SoftBreak
            | Event::HardBreak
            | Event::Rule
            | Event::TaskListMarker(_)) => self.out.push(event),
        }
    }

    fn start(&mut self, tag: Tag<'a>) {
        let tag = match tag {
            // Its lines arrive as `Event::Html` and become text: a paragraph of them.
            Tag::HtmlBlock => Tag::Paragraph,
            // Heading attributes are not enabled; clearing them keeps author-chosen
            // ids, classes and attributes out even if they were.
            Tag::Heading { level, .. } => Tag::Heading {
                level: lowered(level, self.lower_headings),
                id: None,
                classes: Vec::new(),
                attrs: Vec::new(),
            },
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                Tag::CodeBlock(CodeBlockKind::Fenced(code_language(&info)))
            }
            Tag::FootnoteDefinition(label) => Tag::FootnoteDefinition(footnote_id(&label).into()),
            Tag::Table(alignments) => {
                self.table = TableState {
                    alignments,
                    in_head: false,
                    cell: 0,
                };
                Tag::Table(Vec::new())
            }
            Tag::TableHead => {
                self.table.in_head = true;
                self.table.cell = 0;
                Tag::TableHead
            }
            Tag::TableRow => {
                self.table.cell = 0;
                Tag::TableRow
            }
            Tag::TableCell => {
                self.html(self.table.cell_start());
                return;
            }
            Tag::Link {
                link_type,
                dest_url,
                title,
                id: _,
            } => {
                self.start_link(link_type, &dest_url, &title);
                return;
            }
            Tag::Image {
                link_type: _,
                dest_url,
                title,
                id: _,
            } => {
                self.image = Some(PendingImage {
                    src: safe_url(&dest_url, IMAGE_SCHEMES),
                    title: title.into_string(),
                    alt: String::new(),
                    depth: 0,
                });
                return;
            }
            // Fixed markup (metadata blocks are not enabled, and would render nothing).
            tag @ (Tag::Paragraph
            | Tag::BlockQuote(_)
            | Tag::CodeBlock(CodeBlockKind::Indented)
            | Tag::List(_)
            | Tag::Item
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::MetadataBlock(_)) => tag,
        };
        self.out.push(Event::Start(tag));
    }

    fn end(&mut self, tag: TagEnd) {
        let tag = match tag {
            TagEnd::HtmlBlock => TagEnd::Paragraph,
            TagEnd::Heading(level) => TagEnd::Heading(lowered(level, self.lower_headings)),
            TagEnd::TableHead => {
                self.table.in_head = false;
                TagEnd::TableHead
            }
            TagEnd::TableCell => {
                self.html(if self.table.in_head { "</th>" } else { "</td>" });
                self.table.cell += 1;
                return;
            }
            TagEnd::Link => {
                if self.links.pop() == Some(true) {
                    self.html("</a>");
                }
                return;
            }
            // Images are consumed whole by `PendingImage::absorb`.
            TagEnd::Image => return,
            tag @ (TagEnd::Paragraph
            | TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::List(_)
            | TagEnd::Item
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Table
            | TagEnd::TableRow
            | TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::MetadataBlock(_)) => tag,
        };
        self.out.push(Event::End(tag));
    }

    /// Writes `<a>` for an allowed destination; otherwise only the link's contents
    /// (which follow as ordinary events) are rendered.
    fn start_link(&mut self, link_type: LinkType, dest_url: &str, title: &str) {
        // pulldown-cmark gives an email autolink (`<a@b.c>`) without its scheme.
        let dest = if link_type == LinkType::Email {
            CowStr::from(format!("mailto:{dest_url}"))
        } else {
            CowStr::from(dest_url)
        };
        let Some(href) = safe_url(&dest, LINK_SCHEMES) else {
            self.links.push(false);
            return;
        };
        let mut html = String::from("<a href=\"");
        push_url_attr(&mut html, &href);
        if !title.is_empty() {
            html.push_str("\" title=\"");
            push_escaped_attr(&mut html, title);
        }
        // The README's links lead away from the repository: give them no standing
        // (nofollow), no handle on this page (noopener) and no Referer, which would
        // tell the other site the private repository's URL and package names.
        html.push_str("\" rel=\"nofollow noopener noreferrer\">");
        self.html(html);
        self.links.push(true);
    }

    fn finish_image(&mut self, image: PendingImage) {
        let Some(src) = image.src else {
            if !image.alt.is_empty() {
                self.out.push(Event::Text(image.alt.into()));
            }
            return;
        };
        if is_remote(&src) {
            let label = if image.alt.is_empty() {
                "image".to_owned()
            } else {
                image.alt
            };
            // An `<a>` cannot hold another: inside a link (a badge), the text alone.
            if self.links.contains(&true) {
                self.out.push(Event::Text(label.into()));
                return;
            }
            let mut html = String::from("<a href=\"");
            push_url_attr(&mut html, &src);
            html.push_str("\" class=\"remote-image\" rel=\"nofollow noopener noreferrer\">");
            self.html(html);
            self.out.push(Event::Text(label.into()));
            self.html("</a>");
            return;
        }
        let mut html = String::from("<img src=\"");
        push_url_attr(&mut html, &src);
        html.push_str("\" alt=\"");
        push_escaped_attr(&mut html, &image.alt);
        if !image.title.is_empty() {
            html.push_str("\" title=\"");
            push_escaped_attr(&mut html, &image.title);
        }
        // Remote images are fetched as the page loads: no Referer for the same reason
        // as links, and only when scrolled to.
        html.push_str("\" referrerpolicy=\"no-referrer\" loading=\"lazy\" />");
        self.html(html);
    }

    /// The only way `Event::Html` enters the output: markup written by this module.
    fn html(&mut self, html: impl Into<CowStr<'a>>) {
        self.out.push(Event::Html(html.into()));
    }
}

impl PendingImage {
    /// Takes one event from inside the image; true when it was the image's end.
    fn absorb(&mut self, event: Event<'_>) -> bool {
        match event {
            // Markup inside an image description (emphasis, a link, another image)
            // cannot go into an alt attribute; only its text does.
            Event::Start(_) => self.depth += 1,
            Event::End(_) => {
                if self.depth == 0 {
                    return true;
                }
                self.depth -= 1;
            }
            Event::Text(text)
            | Event::Code(text)
            | Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => self.alt.push_str(&text),
            Event::SoftBreak | Event::HardBreak => self.alt.push(' '),
            Event::FootnoteReference(_) | Event::Rule | Event::TaskListMarker(_) => {}
        }
        false
    }
}

impl TableState {
    /// `align` instead of the inline `style` pulldown-cmark would write.
    fn cell_start(&self) -> &'static str {
        let alignment = self.alignments.get(self.cell).unwrap_or(&Alignment::None);
        match (self.in_head, alignment) {
            (true, Alignment::None) => "<th>",
            (true, Alignment::Left) => "<th align=\"left\">",
            (true, Alignment::Center) => "<th align=\"center\">",
            (true, Alignment::Right) => "<th align=\"right\">",
            (false, Alignment::None) => "<td>",
            (false, Alignment::Left) => "<td align=\"left\">",
            (false, Alignment::Center) => "<td align=\"center\">",
            (false, Alignment::Right) => "<td align=\"right\">",
        }
    }
}

/// `level` made `by` levels lower, down to `h6` at most.
fn lowered(level: HeadingLevel, by: u8) -> HeadingLevel {
    const LEVELS: [HeadingLevel; 6] = [
        HeadingLevel::H1,
        HeadingLevel::H2,
        HeadingLevel::H3,
        HeadingLevel::H4,
        HeadingLevel::H5,
        HeadingLevel::H6,
    ];
    let index = LEVELS
        .iter()
        .position(|l| *l == level)
        .expect("every heading level is listed");
    LEVELS[(index + usize::from(by)).min(LEVELS.len() - 1)]
}

/// Whether a URL [`safe_url`] allowed names another host: it has a scheme, or starts
/// with two slashes (or backslashes, which browsers read as slashes in http(s) URLs).
fn is_remote(url: &str) -> bool {
    let first_segment = url.split(['/', '?', '#']).next().unwrap_or_default();
    first_segment.contains(':')
        || url
            .as_bytes()
            .get(..2)
            .is_some_and(|start| start.iter().all(|b| matches!(b, b'/' | b'\\')))
}

/// The URL to write for `url` if its scheme is in `schemes` or it has none (relative),
/// `None` otherwise.
///
/// The scheme is read as a browser's URL parser reads it: it strips leading and
/// trailing C0 controls and spaces and removes tabs and newlines anywhere (so
/// `" java\tscript:"` is `javascript:`), and compares schemes case-insensitively. The
/// returned URL is the normalised one, so what is written is what was checked; it is
/// written with `&` escaped, so no entity in it can be decoded into something else.
/// Character references in a Markdown destination (`javascript&#58;`) were already
/// decoded by the parser and are checked decoded.
///
/// Relative means no `:` before the first `/`, `?` or `#`. That is stricter than the
/// URL parser, which also treats e.g. `1a:b` or `%61:b` as relative: any colon in the
/// first path segment that does not follow an allowed scheme drops the URL.
fn safe_url(url: &str, schemes: &[&str]) -> Option<String> {
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let url = url.trim_matches(|c: char| c <= ' ');
    let first_segment = url.split(['/', '?', '#']).next().unwrap_or_default();
    let allowed = match first_segment.split_once(':') {
        None => true,
        Some((scheme, _)) => schemes
            .iter()
            .any(|allowed| scheme.eq_ignore_ascii_case(allowed)),
    };
    allowed.then(|| url.to_owned())
}

/// The class name pulldown-cmark writes for a fenced code block is `language-` and the
/// first word of the info string, split at spaces only: `x\tother` would add the class
/// `other`. Keeping only a plain word stops a README from dressing its code in the
/// page's own classes; anything else renders as a code block without a language.
fn code_language(info: &str) -> CowStr<'static> {
    let language = info.split_ascii_whitespace().next().unwrap_or_default();
    let plain = language.len() <= 32
        && language
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._#".contains(&b));
    if plain {
        CowStr::from(language.to_owned())
    } else {
        CowStr::Borrowed("")
    }
}

/// An id for a footnote label: the label with every character other than ASCII
/// letters, digits and `-` written as `_<hex code point>_`, under a fixed prefix. The
/// mapping is one-to-one, so distinct footnotes stay distinct.
fn footnote_id(label: &str) -> String {
    let mut id = String::from(FOOTNOTE_ID_PREFIX);
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            id.push(c);
        } else {
            write!(id, "_{:x}_", u32::from(c)).expect("writing to a String");
        }
    }
    id
}

/// Appends `text` for a double-quoted attribute value.
fn push_escaped_attr(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Appends a URL for a double-quoted attribute value, as pulldown-cmark's `escape_href`
/// does: `&` and `'` as character references, bytes that do not belong in a URL
/// (controls, spaces, quotes, `<`, `>`, `\`, non-ASCII, …) percent-encoded.
fn push_url_attr(out: &mut String, url: &str) {
    for &b in url.as_bytes() {
        match b {
            b'&' => out.push_str("&amp;"),
            b'\'' => out.push_str("&#x27;"),
            b if b.is_ascii_alphanumeric() || b"!#$%()*+,-./:;=?@[]^_~".contains(&b) => {
                out.push(char::from(b));
            }
            b => write!(out, "%{b:02X}").expect("writing to a String"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tags the renderer may write.
    #[rustfmt::skip]
    const TAGS: &[&str] = &[
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "img", "code",
        "pre", "em", "strong", "del", "blockquote", "hr", "br", "table", "thead", "tbody",
        "tr", "th", "td", "input", "sup", "div",
    ];

    /// Asserts that `html` is what this module may write: every `<` opens a tag on the
    /// allow-list, with allowed attributes only, each double-quoted with a value that
    /// fits it, and every URL in one is http(s), mailto or relative. Written without
    /// reference to the renderer's code, and stricter than HTML: a tab or `/` between
    /// attributes, an unquoted value or a stray `<` in text all fail.
    fn assert_inert(markdown: &str, html: &str) {
        let context = || format!("\nmarkdown: {markdown:?}\nhtml: {html:?}");
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            let tag = &rest[open + 1..];
            let (closing, tag) = match tag.strip_prefix('/') {
                Some(tag) => (true, tag),
                None => (false, tag),
            };
            let name_len = tag
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tag.len());
            let name = &tag[..name_len];
            assert!(
                TAGS.contains(&name),
                "tag {name:?} not allowed{}",
                context()
            );
            let mut tag = &tag[name_len..];
            if closing {
                tag = tag
                    .strip_prefix('>')
                    .unwrap_or_else(|| panic!("bad end tag{}", context()));
                rest = tag;
                continue;
            }
            let mut attributes = Vec::new();
            loop {
                tag = tag.trim_start_matches(' ');
                if let Some(after) = tag.strip_prefix("/>").or_else(|| tag.strip_prefix('>')) {
                    tag = after;
                    break;
                }
                let attr_len = tag
                    .find(|c: char| !c.is_ascii_lowercase())
                    .unwrap_or(tag.len());
                let attribute = &tag[..attr_len];
                assert!(
                    !attribute.is_empty(),
                    "bad attribute in <{name}>{}",
                    context()
                );
                let value = tag[attr_len..]
                    .strip_prefix("=\"")
                    .unwrap_or_else(|| panic!("unquoted {attribute}{}", context()));
                let end = value
                    .find('"')
                    .unwrap_or_else(|| panic!("unterminated {attribute}{}", context()));
                let decoded = decode_attr(&value[..end])
                    .unwrap_or_else(|| panic!("odd reference in {attribute}{}", context()));
                assert!(
                    attribute_fits(name, attribute, &decoded),
                    "<{name} {attribute}={decoded:?}> not allowed{}",
                    context()
                );
                attributes.push(attribute);
                tag = &value[end + 1..];
            }
            if name == "input" {
                assert!(
                    attributes.contains(&"disabled"),
                    "enabled input{}",
                    context()
                );
            }
            rest = tag;
        }
    }

    /// The value a browser sees, if it only uses the references this module writes.
    fn decode_attr(value: &str) -> Option<String> {
        let mut decoded = String::new();
        let mut rest = value;
        while let Some(amp) = rest.find('&') {
            decoded.push_str(&rest[..amp]);
            let (reference, c) = [
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&quot;", '"'),
                ("&#39;", '\''),
                ("&#x27;", '\''),
            ]
            .into_iter()
            .find(|(reference, _)| rest[amp..].starts_with(reference))?;
            decoded.push(c);
            rest = &rest[amp + reference.len()..];
        }
        decoded.push_str(rest);
        Some(decoded)
    }

    fn attribute_fits(tag: &str, attribute: &str, value: &str) -> bool {
        let word = |v: &str, extra: &[u8]| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
        };
        match (tag, attribute) {
            ("a", "href") | ("img", "src") => url_is_inert(value),
            ("a", "rel") => value == "nofollow noopener noreferrer",
            ("a", "class") => value == "remote-image",
            ("a" | "img", "title") | ("img", "alt") => true,
            ("img", "loading") => value == "lazy",
            ("img", "referrerpolicy") => value == "no-referrer",
            ("th" | "td", "align") => matches!(value, "left" | "center" | "right"),
            ("ol", "start") => !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
            ("input", "type") => value == "checkbox",
            ("input", "checked" | "disabled") => value.is_empty(),
            ("code", "class") => value
                .strip_prefix("language-")
                .is_some_and(|language| word(language, b"+-._#")),
            ("sup", "class") => {
                matches!(value, "footnote-reference" | "footnote-definition-label")
            }
            ("div", "class") => value == "footnote-definition",
            ("div", "id") => value
                .strip_prefix(FOOTNOTE_ID_PREFIX)
                .is_some_and(|id| word(id, b"-_")),
            _ => false,
        }
    }

    /// http(s), mailto or relative, judged independently of [`safe_url`] and more
    /// harshly: all whitespace and controls are removed before looking for a scheme.
    fn url_is_inert(url: &str) -> bool {
        let squeezed: String = url
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect::<String>()
            .to_ascii_lowercase();
        let first_segment = squeezed.split(['/', '?', '#']).next().unwrap_or_default();
        match first_segment.split_once(':') {
            None => true,
            Some((scheme, _)) => matches!(scheme, "http" | "https" | "mailto"),
        }
    }

    #[test]
    fn checker_rejects_active_html() {
        for html in [
            "<script>alert(1)</script>",
            "<p onclick=\"alert(1)\">x</p>",
            "<p\tonclick=\"alert(1)\">x</p>",
            "<p/onclick=\"alert(1)\">x</p>",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\" JaVa\tScRiPt:alert(1)\">x</a>",
            "<a href=\"javascript&#58;alert(1)\">x</a>",
            "<a href=\"javascript&colon;alert(1)\">x</a>",
            "<img src=\"data:image/svg+xml,x\" />",
            "<code class=\"language-x other\">",
            "<div id=\"main\">",
            "<input type=\"checkbox\"/>",
            "<!-- x -->",
            "a < b",
            "<svg>",
        ] {
            let rejected = std::panic::catch_unwind(|| assert_inert("", html)).is_err();
            assert!(rejected, "checker accepted {html:?}");
        }
    }

    fn rendered(markdown: &str) -> String {
        let html = render(markdown);
        assert_inert(markdown, &html);
        assert_inert(markdown, &render_below_title(markdown));
        html
    }

    #[test]
    fn below_a_title_headings_are_one_level_lower() {
        assert_eq!(
            render_below_title("# 1\n## 2\n### 3\n#### 4\n##### 5\n###### 6\n\nSetext\n==="),
            "<h2>1</h2>\n<h3>2</h3>\n<h4>3</h4>\n<h5>4</h5>\n<h6>5</h6>\n<h6>6</h6>\n\
             <h2>Setext</h2>\n"
        );
        // Nothing else changes.
        assert_eq!(render_below_title("*a* `b`"), render("*a* `b`"));
    }

    #[test]
    fn renders_ordinary_markdown() {
        assert_eq!(
            rendered("# Title\n\n## Sub"),
            "<h1>Title</h1>\n<h2>Sub</h2>\n"
        );
        assert_eq!(
            rendered("*em* **strong** ~~gone~~ `a < b`"),
            "<p><em>em</em> <strong>strong</strong> <del>gone</del> <code>a &lt; b</code></p>\n"
        );
        assert_eq!(
            rendered("- one\n- two\n"),
            "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        );
        assert_eq!(
            rendered("3. three\n4. four\n"),
            "<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>\n"
        );
        assert_eq!(
            rendered("```php\n<?php echo 1 < 2 && $a;\n```\n"),
            "<pre><code class=\"language-php\">&lt;?php echo 1 &lt; 2 &amp;&amp; $a;\n</code></pre>\n"
        );
        assert_eq!(
            rendered("    indented <b>\n"),
            "<pre><code>indented &lt;b&gt;\n</code></pre>\n"
        );
        assert_eq!(
            rendered("> quoted\n\n---\n"),
            "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr />\n"
        );
        assert_eq!(rendered("a  \nb"), "<p>a<br />\nb</p>\n");
    }

    #[test]
    fn renders_tables_with_align_not_style() {
        assert_eq!(
            rendered("| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n"),
            "<table><thead><tr><th align=\"left\">a</th><th align=\"center\">b</th>\
             <th align=\"right\">c</th><th>d</th></tr></thead><tbody>\n\
             <tr><td align=\"left\">1</td><td align=\"center\">2</td>\
             <td align=\"right\">3</td><td>4</td></tr>\n</tbody></table>\n"
        );
    }

    #[test]
    fn renders_links_and_images() {
        let rel = "rel=\"nofollow noopener noreferrer\"";
        assert_eq!(
            rendered("[docs](https://example.com/a?b=1&c=2 \"The docs\")"),
            format!(
                "<p><a href=\"https://example.com/a?b=1&amp;c=2\" title=\"The docs\" {rel}>docs</a></p>\n"
            )
        );
        assert_eq!(
            rendered("[up](../README.md) [top](#usage) [q](?x) [root](/p/a) [p](docs/x.md)"),
            format!(
                "<p><a href=\"../README.md\" {rel}>up</a> <a href=\"#usage\" {rel}>top</a> \
                 <a href=\"?x\" {rel}>q</a> <a href=\"/p/a\" {rel}>root</a> \
                 <a href=\"docs/x.md\" {rel}>p</a></p>\n"
            )
        );
        assert_eq!(
            rendered("<https://example.com> <me@example.com> [m](MAILTO:me@example.com)"),
            format!(
                "<p><a href=\"https://example.com\" {rel}>https://example.com</a> \
                 <a href=\"mailto:me@example.com\" {rel}>me@example.com</a> \
                 <a href=\"MAILTO:me@example.com\" {rel}>m</a></p>\n"
            )
        );
        assert_eq!(
            rendered("[ref][r]\n\n[r]: HTTPS://example.com/ \"t\""),
            format!("<p><a href=\"HTTPS://example.com/\" title=\"t\" {rel}>ref</a></p>\n")
        );
        // Images of other hosts are not loaded: a link to them instead, or inside a
        // link their alt text.
        assert_eq!(
            rendered("![The *logo*](https://example.com/logo.png \"Logo\")"),
            "<p><a href=\"https://example.com/logo.png\" class=\"remote-image\" \
             rel=\"nofollow noopener noreferrer\">The logo</a></p>\n"
        );
        for remote in [
            "http://x.example/p.gif",
            "//x.example/p.gif",
            "/\\x.example/p.gif",
        ] {
            let html = rendered(&format!(
                "![]({remote}) [![ci]({remote})](https://ci.example)"
            ));
            assert!(!html.contains("<img"), "{html}");
            assert!(html.contains("class=\"remote-image\""), "{html}");
            assert!(html.contains(">image</a>"), "{html}");
            assert!(html.contains(&format!("{rel}>ci</a>")), "{html}");
        }
        assert_eq!(
            rendered("![local](/docs/x.png)"),
            "<p><img src=\"/docs/x.png\" alt=\"local\" referrerpolicy=\"no-referrer\" \
             loading=\"lazy\" /></p>\n"
        );
        assert_eq!(
            rendered("[![badge](/b.svg)](https://ci.example.com)"),
            format!(
                "<p><a href=\"https://ci.example.com\" {rel}><img src=\"/b.svg\" alt=\"badge\" \
                 referrerpolicy=\"no-referrer\" loading=\"lazy\" /></a></p>\n"
            )
        );
        // Spaces and quotes in a destination are percent-encoded, not written raw.
        assert_eq!(
            rendered("[x](<a b\"c>)"),
            format!("<p><a href=\"a%20b%22c\" {rel}>x</a></p>\n")
        );
    }

    #[test]
    fn renders_task_lists_and_footnotes() {
        assert_eq!(
            rendered("- [x] done\n- [ ] todo\n"),
            "<ul>\n<li><input disabled=\"\" type=\"checkbox\" checked=\"\"/>\ndone</li>\n\
             <li><input disabled=\"\" type=\"checkbox\"/>\ntodo</li>\n</ul>\n"
        );
        let html = rendered("Text[^1] and[^a b\"].\n\n[^1]: One.\n[^a b\"]: Two.\n");
        assert!(html.contains("<a href=\"#readme-fn-1\">1</a>"), "{html}");
        assert!(
            html.contains("<a href=\"#readme-fn-a_20_b_22_\">2</a>"),
            "{html}"
        );
        assert!(html.contains("id=\"readme-fn-1\""), "{html}");
        assert!(html.contains("id=\"readme-fn-a_20_b_22_\""), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        for (markdown, expected) in [
            (
                "<script>alert(1)</script>",
                "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n",
            ),
            (
                "a <script>alert(1)</script> b",
                "<p>a &lt;script&gt;alert(1)&lt;/script&gt; b</p>\n",
            ),
            (
                "<img src=x onerror=alert(1)>",
                "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n",
            ),
            (
                "x <img src=x onerror=alert(1)>",
                "<p>x &lt;img src=x onerror=alert(1)&gt;</p>\n",
            ),
            (
                "<a href=\"javascript:alert(1)\">x</a>",
                "<p>&lt;a href=\"javascript:alert(1)\"&gt;x&lt;/a&gt;</p>\n",
            ),
            (
                "<iframe src=\"https://evil.example\"></iframe>",
                "<p>&lt;iframe src=\"https://evil.example\"&gt;&lt;/iframe&gt;</p>\n",
            ),
            (
                "<style>body{display:none}</style>",
                "<p>&lt;style&gt;body{display:none}&lt;/style&gt;</p>\n",
            ),
            (
                "<svg onload=alert(1)>",
                "<p>&lt;svg onload=alert(1)&gt;</p>\n",
            ),
            (
                "<!-- <script> -->",
                "<p>&lt;!-- &lt;script&gt; --&gt;</p>\n",
            ),
            (
                "`<script>alert(1)</script>`",
                "<p><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></p>\n",
            ),
        ] {
            assert_eq!(rendered(markdown), expected, "{markdown}");
        }
        // A multi-line HTML block stays one (escaped) paragraph.
        let html = rendered("<div>\n<script>\nalert(1)\n</script>\n</div>\n\nafter");
        assert_eq!(
            html,
            "<p>&lt;div&gt;\n&lt;script&gt;\nalert(1)\n&lt;/script&gt;\n&lt;/div&gt;\n</p>\n<p>after</p>\n"
        );
    }

    #[test]
    fn unsafe_link_destinations_leave_only_the_text() {
        for markdown in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x]( javascript:alert(1))",
            "[x](<\tjavascript:alert(1)>)",
            "[x](<java\tscript:alert(1)>)",
            "[x](<java script:alert(1)>)",
            "[x](java&#9;script:alert(1))",
            "[x](java&#10;script:alert(1))",
            "[x](java%09script:alert(1))",
            "[x](javascript&#58;alert(1))",
            "[x](javascript&colon;alert(1))",
            "[x](&#106;avascript:alert(1))",
            "[x](\\javascript:alert(1))",
            "[x](java&#0;script:alert(1))",
            "[x](&#1;javascript:alert(1))",
            "[x](\u{a0}javascript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "[x](file:///etc/passwd)",
            "[x][r]\n\n[r]: javascript:alert(1)",
            "[x]\n\n[x]: javascript:alert(1)",
            "[x][]\n\n[x]: <javascript:alert(1)>",
        ] {
            let html = rendered(markdown);
            assert_eq!(html, "<p>x</p>\n", "{markdown}");
        }
        // Whitespace ends an unbracketed destination, and a bracketed one cannot span
        // lines: these are not links at all, just text.
        for markdown in [
            "[x](java\tscript:alert(1))",
            "[x](<java\nscript:alert(1)>)",
            "![x](JAVA\tSCRIPT:alert(1))",
        ] {
            let html = rendered(markdown);
            assert!(!html.contains("<a") && !html.contains("<img"), "{html}");
        }
        // An autolink's text is its destination: shown, not linked.
        assert_eq!(
            rendered("<javascript:alert(1)>"),
            "<p>javascript:alert(1)</p>\n"
        );
        assert_eq!(rendered("<vbscript:msgbox>"), "<p>vbscript:msgbox</p>\n");
        // Markup inside a dropped link still renders.
        assert_eq!(
            rendered("[*a* `b`](javascript:alert(1))"),
            "<p><em>a</em> <code>b</code></p>\n"
        );
    }

    #[test]
    fn percent_encoded_schemes_stay_relative() {
        // No scheme for a browser either (`%` cannot be part of one): a relative path.
        let html = rendered("[x](javascript%3Aalert(1))");
        assert!(html.contains("href=\"javascript%3Aalert(1)\""), "{html}");
        // Character references are decoded by the parser before the check, both ways.
        let html = rendered("[x](mailto&#58;a@b.c)");
        assert!(html.contains("href=\"mailto:a@b.c\""), "{html}");
    }

    #[test]
    fn unsafe_image_sources_leave_only_the_alt_text() {
        for markdown in [
            "![a](javascript:alert(1))",
            "![a](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
            "![a](mailto:a@b.c)",
            "![a](<JAVA\tSCRIPT:alert(1)>)",
            "![a][r]\n\n[r]: vbscript:x",
        ] {
            assert_eq!(rendered(markdown), "<p>a</p>\n", "{markdown}");
        }
        // Alt text is escaped where it lands: in text, or in the attribute.
        assert_eq!(
            rendered("![<script>\"](javascript:x)"),
            "<p>&lt;script&gt;\"</p>\n"
        );
        assert_eq!(
            rendered("![\" onerror=\"alert(1)](/x.png)"),
            "<p><img src=\"/x.png\" alt=\"&quot; onerror=&quot;alert(1)\" \
             referrerpolicy=\"no-referrer\" loading=\"lazy\" /></p>\n"
        );
    }

    #[test]
    fn titles_and_attributes_cannot_break_out() {
        let html = rendered("[x](http://a \"\\\" onmouseover=alert(1) x=\\\"\")");
        assert_eq!(
            html,
            "<p><a href=\"http://a\" title=\"&quot; onmouseover=alert(1) x=&quot;\" \
             rel=\"nofollow noopener noreferrer\">x</a></p>\n"
        );
        let html = rendered("[x](http://a 'it&#39;s \"q\" <b>')");
        assert!(
            html.contains("title=\"it&#39;s &quot;q&quot; &lt;b&gt;\""),
            "{html}"
        );
        // Heading attributes are not enabled: the braces are text.
        assert_eq!(
            rendered("# Title {#x onclick=alert(1) .c}"),
            "<h1>Title {#x onclick=alert(1) .c}</h1>\n"
        );
        // A code block's language is a class: only a plain word is kept.
        assert_eq!(
            rendered("```x\tevil\ncode\n```"),
            "<pre><code class=\"language-x\">code\n</code></pre>\n"
        );
        assert_eq!(
            rendered("```x\"onclick=y\ncode\n```"),
            "<pre><code>code\n</code></pre>\n"
        );
    }

    #[test]
    fn safe_url_reads_schemes_like_a_browser() {
        for (url, expected) in [
            ("https://example.com", Some("https://example.com")),
            (" \t HTTP://ex\tample.com\n ", Some("HTTP://example.com")),
            ("mailto:a@b.c", Some("mailto:a@b.c")),
            ("", Some("")),
            ("#frag", Some("#frag")),
            ("?q=a:b", Some("?q=a:b")),
            ("./a:b", Some("./a:b")),
            ("a/b:c", Some("a/b:c")),
            ("//example.com/x", Some("//example.com/x")),
            ("javascript:alert(1)", None),
            ("\u{1}\u{1f} javascript:x", None),
            ("j\ra\nv\ta script:x", None),
            ("ja\u{0}vascript:x", None),
            ("a:b", None),
            ("1a:b", None),
            ("https\u{0}:x", None),
            ("data:text/html,x", None),
        ] {
            assert_eq!(safe_url(url, LINK_SCHEMES).as_deref(), expected, "{url:?}");
        }
        assert_eq!(safe_url("mailto:a@b.c", IMAGE_SCHEMES), None);
    }

    #[test]
    fn input_is_capped_on_a_char_boundary() {
        let html = render_limited("ééé", 3);
        assert_eq!(html, "<p>é</p>\n");
        let huge = "word ".repeat(MAX_README_BYTES / 4);
        let html = render(&huge);
        assert!(html.len() < MAX_README_BYTES + 100, "{}", html.len());
        // Reference links cannot multiply a long destination without bound.
        let long = format!("[r]: https://example.com/{}\n\n", "a".repeat(100_000));
        let html = render(&format!("{long}{}", "[x][r]".repeat(10_000)));
        assert!(html.len() < 2 * MAX_README_BYTES, "{}", html.len());
    }

    #[test]
    fn deep_nesting_renders() {
        for markdown in [
            ">".repeat(50_000),
            "- ".repeat(20_000),
            "[".repeat(50_000),
            "*".repeat(50_000),
            "![".repeat(20_000),
            "<a>".repeat(20_000),
        ] {
            rendered(&markdown);
        }
    }

    /// xorshift64: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn random_markdown_stays_inert() {
        #[rustfmt::skip]
        const FRAGMENTS: &[&str] = &[
            "<", ">", "/", "script", "img", "a href=", "onerror=", "javascript:", "JaVa",
            "vbscript:", "data:", "mailto:", "http://", "https:", "[", "]", "](", ")", "!",
            "![", "[^", "]:", "\"", "'", "&#", "58;", "&colon;", "&amp;", ":", "\t", "\n",
            "\n\n", "    ", "`", "```", "*", "_", "~~", "|", "|-|", "- [ ] ", "# ", "> ",
            "{#", "}", "%0a", "\\", "=", "\u{0}", "\u{a0}", "é", "a", "b", " ", "-", "1. ",
            "<!--", "-->", "<svg", "<style>", "<iframe",
            // Skeletons of links, images, definitions, footnotes and tables, so that the
            // random parts often land in a destination, title or cell.
            "[x](", "![i](", "<java", "<http://", " \"t", "\n\n[r]: ", "[x][r]", "![i][r]",
            "[x]", "[^1]", "\n\n[^1]: ", "\n| a | b |\n|:-|-:|\n| ", "```x",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5_000 {
            let mut markdown = String::new();
            for _ in 0..=rng.below(60) {
                markdown.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
            }
            rendered(&markdown);
        }
    }
}
