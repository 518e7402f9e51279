//! Package READMEs as HTML, for the package pages of the web UI, and the cap on how
//! much of a README is kept, which the readers of READMEs (git scans, uploads) apply.
//!
//! A README is written by whoever publishes the package, so it is untrusted input and
//! the HTML made from it must be inert: nothing in it may run script in a viewer's
//! browser. READMEs are rendered the way GitHub and Packagist render them: Markdown
//! with the HTML its authors write (badges, `<p align="center">`, `<details>`, HTML
//! tables), passed through a well-kept sanitiser with an allow-list.
//!
//! In detail:
//!
//! - pulldown-cmark parses the Markdown into events, and `Sanitiser` rewrites them
//!   before pulldown-cmark's renderer turns them into HTML: link and image
//!   destinations are checked (see `safe_url`), heading levels are lowered for a page
//!   whose `h1` is its title (in raw HTML too), footnote labels become ids under a
//!   fixed prefix, a code block's language is kept only when it is a plain word, table
//!   cells get `align` rather than an inline `style`, and task list markers become
//!   text.
//! - That HTML, the author's raw HTML included, then goes through ammonia (the
//!   html5ever-based sanitiser): only the tags and attributes of `allowed_html` are
//!   kept; every other tag is dropped, and `script` and `style` with their contents.
//!   Links may be http, https or mailto, and get `rel="nofollow noopener
//!   noreferrer"`; images load from https only, without a Referer, lazily. Ammonia
//!   parses as a browser does, so what is checked is what a browser would see.
//! - Before that, `raw_html::RawHtmlCheck` reads the author's HTML: a README whose HTML
//!   could make the parser slow (thousands of tags, deep nesting, formatting elements
//!   left open, tags read by other rules such as `script`) has it shown as text.
//! - Relative links and images resolve against the repository when its host is known
//!   (GitHub, GitLab, Bitbucket: [`RepositoryBase`]): links to its pages, images to
//!   its raw files, at the version's reference. Otherwise they are dropped (the link
//!   keeps its text), since they would point into this site.
//! - The input is capped at [`MAX_README_BYTES`], so a huge README cannot blow up a
//!   page. pulldown-cmark itself bounds how much reference links can repeat their
//!   destinations, so the output stays proportional to the input.

mod raw_html;

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

/// Schemes an image may use: https only (an http image would be mixed content, and a
/// mailto: image means nothing).
const IMAGE_SCHEMES: &[&str] = &["https"];

/// The tags a README may use, as GitHub and Packagist allow them: text, lists,
/// tables, code, `details`, images and links. No forms, frames, media, SVG or MathML.
#[rustfmt::skip]
const ALLOWED_TAGS: &[&str] = &[
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "ol", "p", "picture", "pre", "q", "s", "samp", "small", "span", "strike",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "tt", "u", "ul", "var",
];

/// Tags whose content goes with them: what is inside a script or a style is not text.
const DROPPED_WITH_CONTENT: &[&str] = &["script", "style"];

/// The tags that may carry `align` (`<p align="center">` is how READMEs centre a logo).
#[rustfmt::skip]
const ALIGNABLE: &[&str] = &[
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "img", "table", "tr", "th", "td",
];

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
/// an `h6`, so that the page keeps exactly one `h1`. Relative links and images resolve
/// against `base`, the repository the README comes from, when it is known.
pub fn render_below_title(markdown: &str, base: Option<&RepositoryBase>) -> String {
    render_with(markdown, MAX_README_BYTES, 1, base)
}

/// [`render`] with a different cap: at most `max_bytes` of `markdown` (cut back to a
/// char boundary) are rendered, the rest is dropped silently. A cut may land inside a
/// construct (an open code fence, say); that only changes how the tail renders.
pub fn render_limited(markdown: &str, max_bytes: usize) -> String {
    render_with(markdown, max_bytes, 0, None)
}

/// Renders at most `max_bytes` of `markdown`, its headings `lower` levels lower than
/// written (never below `h6`), relative URLs resolved against `base`.
fn render_with(
    markdown: &str,
    max_bytes: usize,
    lower: u8,
    base: Option<&RepositoryBase>,
) -> String {
    let markdown = &markdown[..markdown.floor_char_boundary(max_bytes)];
    let sanitiser = allowed_html(base.cloned());
    let to_html = |raw_html: bool| {
        let (events, tame) = Sanitiser::run(Parser::new_ext(markdown, options()), lower, raw_html);
        if !tame {
            return None;
        }
        let mut html = String::with_capacity(markdown.len() + markdown.len() / 2);
        pulldown_cmark::html::push_html(&mut html, events.into_iter());
        let html = sanitiser.clean(&html).to_string();
        (html.len() <= MAX_GROWTH * markdown.len() + 64 * 1024).then_some(html)
    };
    // A README whose own HTML could make the parser slow (`raw_html`), or whose HTML
    // grew far beyond its size, has its HTML shown as text.
    to_html(true).or_else(|| to_html(false)).unwrap_or_default()
}

/// The deepest the Markdown's block quotes and lists nest when rendered: far deeper
/// than any real README, shallow enough for the sanitiser's parser.
const MAX_NESTING: usize = 64;

/// How much larger than its Markdown a README's HTML may be before its raw HTML is
/// shown as text instead: real READMEs stay well under it.
const MAX_GROWTH: usize = 8;

/// The sanitiser every README's HTML goes through last: ammonia with an allow-list
/// (see the module's documentation), relative URLs resolved against `base`.
fn allowed_html(base: Option<RepositoryBase>) -> ammonia::Builder<'static> {
    // Every list is set, not added to: `Builder::empty` empties only the tags, and
    // ammonia's default schemes (ssh:, tel:, magnet:, …) and attributes would stay.
    let tag_attributes = [
        ("a", &["href"][..]),
        ("img", &["src", "alt", "width", "height"][..]),
        ("td", &["colspan", "rowspan"][..]),
        ("th", &["colspan", "rowspan"][..]),
        ("ol", &["start"][..]),
        ("details", &["open"][..]),
        ("div", &["id"][..]),
    ]
    .into_iter()
    .map(|(tag, attributes)| (tag, attributes.iter().copied().collect()))
    .collect();
    let mut builder = ammonia::Builder::empty();
    builder
        .add_tags(ALLOWED_TAGS)
        .add_clean_content_tags(DROPPED_WITH_CONTENT)
        .generic_attributes(["title"].into_iter().collect())
        .tag_attributes(tag_attributes)
        .url_schemes(LINK_SCHEMES.iter().copied().collect())
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("nofollow noopener noreferrer"))
        // Images are fetched as the page loads: without a Referer (it would tell
        // their host the private repository's URL and package names), only when
        // scrolled to.
        .set_tag_attribute_value("img", "referrerpolicy", "no-referrer")
        .set_tag_attribute_value("img", "loading", "lazy")
        .strip_comments(true);
    for tag in ALIGNABLE {
        builder.add_tag_attribute_values(tag, "align", ["left", "center", "right"]);
    }
    builder.attribute_filter(move |element, attribute, value| {
        checked_attribute(base.as_ref(), element, attribute, value)
    });
    builder
}

/// The value an allowed attribute keeps, `None` to drop it; every pair not listed is
/// dropped. Ammonia has already checked absolute URLs' schemes (http, https, mailto)
/// but passes relative ones, which are decided here, as are absolute ones without
/// `//` after the scheme (`https:/admin`, which a browser resolves against this page).
fn checked_attribute<'v>(
    base: Option<&RepositoryBase>,
    element: &str,
    attribute: &str,
    value: &'v str,
) -> Option<std::borrow::Cow<'v, str>> {
    let keep = Some(std::borrow::Cow::Borrowed(value));
    let number = |most: usize, percent: bool| {
        let digits = match value.strip_suffix('%') {
            Some(digits) if percent => digits,
            _ => value,
        };
        (!digits.is_empty() && digits.len() <= most && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(std::borrow::Cow::Borrowed(value))
    };
    let url = as_a_browser_reads(value).to_ascii_lowercase();
    match (element, attribute) {
        ("img", "src") => match url::Url::parse(value) {
            Ok(_) => url.starts_with("https://").then_some(value.into()),
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                RepositoryBase::resolve(&base?.files, value).map(Into::into)
            }
            Err(_) => None,
        },
        ("a", "href") => match url::Url::parse(value) {
            Ok(_) => ["https://", "http://", "mailto:"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
                .then_some(value.into()),
            // A fragment stays on the page (footnotes).
            Err(url::ParseError::RelativeUrlWithoutBase) if value.starts_with('#') => keep,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                RepositoryBase::resolve(&base?.pages, value).map(Into::into)
            }
            Err(_) => None,
        },
        // Only the ids footnotes get, which cannot collide with the page's own.
        ("div", "id") => value
            .strip_prefix(FOOTNOTE_ID_PREFIX)
            .is_some_and(|id| {
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            })
            .then_some(value.into()),
        ("img", "width" | "height") => number(5, true),
        ("td" | "th", "colspan" | "rowspan") => number(3, false),
        ("ol", "start") => number(9, false),
        // Checked by ammonia against left/center/right (`ALIGNABLE`), set by us
        // (`rel`, `referrerpolicy`, `loading`), or text.
        (_, "align" | "title")
        | ("a", "rel")
        | ("img", "alt" | "referrerpolicy" | "loading")
        | ("details", "open") => keep,
        _ => None,
    }
}

/// Where a README's relative links and images point: the pages and the raw files of
/// the repository it comes from, at one reference. Known for repositories on GitHub,
/// GitLab and Bitbucket, whose URL layouts are public and stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryBase {
    pages: url::Url,
    files: url::Url,
}

impl RepositoryBase {
    /// The base for a repository cloned from `repository` (https, ssh or scp-like
    /// `git@host:path`) at `reference` (a commit or tag; `HEAD` when empty or odd).
    pub fn of(repository: &str, reference: &str) -> Option<RepositoryBase> {
        let with_scheme = ["https://", "http://", "ssh://", "git://"]
            .iter()
            .find_map(|scheme| repository.strip_prefix(scheme));
        let (host, path) = if let Some(rest) = with_scheme {
            // scheme://[user@]host[:port]/path
            let (authority, path) = rest.split_once('/')?;
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            (host.split(':').next().unwrap_or_default(), path)
        } else {
            // [user@]host:path, as scp and git write it.
            let (authority, path) = repository.split_once(':')?;
            (
                authority
                    .rsplit_once('@')
                    .map_or(authority, |(_, host)| host),
                path,
            )
        };
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let plain = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if segments.len() < 2 || !segments.iter().all(|part| plain(part)) {
            return None;
        }
        let reference =
            if !reference.is_empty() && reference.len() <= 100 && reference.split('/').all(plain) {
                reference
            } else {
                "HEAD"
            };
        let (pages, files) = match (host.to_ascii_lowercase().as_str(), segments.len()) {
            ("github.com", 2) => (
                format!("https://github.com/{path}/blob/{reference}/"),
                format!("https://raw.githubusercontent.com/{path}/{reference}/"),
            ),
            ("gitlab.com", _) => (
                format!("https://gitlab.com/{path}/-/blob/{reference}/"),
                format!("https://gitlab.com/{path}/-/raw/{reference}/"),
            ),
            ("bitbucket.org", 2) => (
                format!("https://bitbucket.org/{path}/src/{reference}/"),
                format!("https://bitbucket.org/{path}/raw/{reference}/"),
            ),
            _ => return None,
        };
        Some(RepositoryBase {
            pages: url::Url::parse(&pages).ok()?,
            files: url::Url::parse(&files).ok()?,
        })
    }

    /// `relative` against `base` (one of ours): a path from the repository's root when
    /// it starts with `/`. `None` for a URL that would leave the base's host (`//host`)
    /// or is not https once resolved.
    fn resolve(base: &url::Url, relative: &str) -> Option<String> {
        // `//host/…` leaves the host; browsers read `\` as `/` in https URLs.
        if relative.starts_with("//") || relative.contains('\\') {
            return None;
        }
        let resolved = base.join(relative.trim_start_matches('/')).ok()?;
        (resolved.scheme() == "https" && resolved.host_str() == base.host_str())
            .then(|| resolved.to_string())
    }
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
    /// Whether the README's own HTML is passed on (to the allow-list) or shown as text.
    raw_html: bool,
    /// One entry per open block quote, list and item: whether it was written (those
    /// nested deeper than [`MAX_NESTING`] are not; their content is).
    containers: Vec<bool>,
    /// How many of `containers` were written.
    written_containers: usize,
    /// Whether the README's own HTML is tame enough for the parser.
    raw: raw_html::RawHtmlCheck,
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
    fn run(
        events: impl Iterator<Item = Event<'a>>,
        lower_headings: u8,
        raw_html: bool,
    ) -> (Vec<Event<'a>>, bool) {
        let mut sanitiser = Sanitiser {
            lower_headings,
            raw_html,
            ..Sanitiser::default()
        };
        for event in events {
            sanitiser.event(event);
            if !sanitiser.raw.tame() {
                return (Vec::new(), false);
            }
        }
        (sanitiser.out, true)
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
            // The README's own HTML goes on to the allow-list (`allowed_html`), its
            // headings as low as the Markdown ones.
            Event::Html(html) | Event::InlineHtml(html) if !self.raw_html => {
                self.out.push(Event::Text(html));
            }
            Event::Html(html) => {
                self.raw.feed(&html);
                self.out.push(Event::Html(self.lowered_html(html)));
            }
            Event::InlineHtml(html) => {
                self.raw.feed(&html);
                self.out.push(Event::InlineHtml(self.lowered_html(html)));
            }
            // Math is not enabled; if it were, its TeX is text.
            Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.out.push(Event::Text(text));
            }
            // Text, which no sanitiser need allow an `<input>` for.
            Event::TaskListMarker(done) => self
                .out
                .push(Event::Text(if done { "☑ " } else { "☐ " }.into())),
            Event::FootnoteReference(label) => self
                .out
                .push(Event::FootnoteReference(footnote_id(&label).into())),
            // Text and code are escaped by the renderer; the rest is fixed markup.
            event @ (Event::Text(_)
            | Event::Code(_)
            | Event::SoftBreak
            | Event::HardBreak
            | Event::Rule) => self.out.push(event),
        }
    }

    /// Raw HTML with its heading tags (`<h1`, `</H2`) as many levels lower as the
    /// Markdown headings, never below `h6`.
    fn lowered_html(&self, html: CowStr<'a>) -> CowStr<'a> {
        if self.lower_headings == 0 || !html.contains(['h', 'H']) {
            return html;
        }
        let mut out = html.as_bytes().to_vec();
        for i in 0..out.len().saturating_sub(2) {
            let opens = out[i] == b'<' || (out[i] == b'/' && i > 0 && out[i - 1] == b'<');
            if opens
                && matches!(out[i + 1], b'h' | b'H')
                && let Some(&digit @ b'1'..=b'6') = out.get(i + 2)
                && !out.get(i + 3).is_some_and(u8::is_ascii_alphanumeric)
            {
                out[i + 2] = (digit + self.lower_headings).min(b'6');
            }
        }
        // Only ASCII digits were replaced by ASCII digits.
        CowStr::from(String::from_utf8(out).expect("still UTF-8"))
    }

    fn start(&mut self, tag: Tag<'a>) {
        if matches!(tag, Tag::BlockQuote(_) | Tag::List(_) | Tag::Item) {
            let written = self.written_containers < MAX_NESTING;
            self.containers.push(written);
            if !written {
                return;
            }
            self.written_containers += 1;
        }
        let tag = match tag {
            // Heading attributes are not enabled; clearing them keeps author-chosen
            // ids, classes and attributes out even if they were.
            Tag::Heading { level, .. } => Tag::Heading {
                level: lowered(level, self.lower_headings),
                id: None,
                classes: Vec::new(),
                attrs: Vec::new(),
            },
            // Its language would be a class, which the allow-list drops anyway.
            Tag::CodeBlock(CodeBlockKind::Fenced(_)) => {
                Tag::CodeBlock(CodeBlockKind::Fenced(CowStr::Borrowed("")))
            }
            // The README's HTML shown as text: a paragraph of it.
            Tag::HtmlBlock if !self.raw_html => Tag::Paragraph,
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
            | Tag::HtmlBlock
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
        if matches!(
            tag,
            TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::BlockQuote(_)
                | TagEnd::HtmlBlock
                | TagEnd::Item
                | TagEnd::TableCell
                | TagEnd::FootnoteDefinition
        ) {
            self.raw.block_ended();
        }
        if matches!(tag, TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item) {
            if self.containers.pop() == Some(false) {
                return;
            }
            self.written_containers -= 1;
        }
        let tag = match tag {
            TagEnd::HtmlBlock if !self.raw_html => TagEnd::Paragraph,
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
            | TagEnd::HtmlBlock
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
    let url = as_a_browser_reads(url);
    let first_segment = url.split(['/', '?', '#']).next().unwrap_or_default();
    let allowed = match first_segment.split_once(':') {
        None => true,
        Some((scheme, _)) => schemes
            .iter()
            .any(|allowed| scheme.eq_ignore_ascii_case(allowed)),
    };
    allowed.then_some(url)
}

/// `url` as a browser's URL parser reads it: tabs and newlines removed anywhere, C0
/// controls and spaces trimmed from both ends.
fn as_a_browser_reads(url: &str) -> String {
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    url.trim_matches(|c: char| c <= ' ').to_owned()
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

    /// Tags the renderer may write: what Markdown makes, and the inert HTML READMEs
    /// use (no forms, frames, media, SVG, MathML, script or style).
    #[rustfmt::skip]
    const TAGS: &[&str] = &[
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "img", "code",
        "pre", "em", "strong", "del", "blockquote", "hr", "br", "table", "thead", "tbody",
        "tr", "th", "td", "sup", "div", "details", "summary", "span", "b", "i", "u", "s",
        "kbd", "sub", "dl", "dt", "dd", "abbr", "ins", "q", "samp", "small", "strike",
        "tt", "var", "tfoot", "caption", "picture",
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
                ("&nbsp;", '\u{a0}'),
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
        let number = |v: &str| {
            let digits = v.strip_suffix('%').unwrap_or(v);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        match (tag, attribute) {
            ("a", "href") => url_is_inert(value),
            ("img", "src") => value.to_ascii_lowercase().starts_with("https://"),
            ("a", "rel") => value == "nofollow noopener noreferrer",
            (_, "title") | ("img", "alt") => true,
            ("img", "loading") => value == "lazy",
            ("img", "referrerpolicy") => value == "no-referrer",
            (
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "img" | "table" | "tr"
                | "th" | "td",
                "align",
            ) => matches!(value, "left" | "center" | "right"),
            ("img", "width" | "height") => number(value),
            ("th" | "td", "colspan" | "rowspan") | ("ol", "start") => {
                number(value) && !value.ends_with('%')
            }
            ("details", "open") => value.is_empty(),
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
        assert_inert(markdown, &render_below_title(markdown, None));
        html
    }

    #[test]
    fn below_a_title_headings_are_one_level_lower() {
        assert_eq!(
            render_below_title(
                "# 1\n## 2\n### 3\n#### 4\n##### 5\n###### 6\n\nSetext\n===",
                None
            ),
            "<h2>1</h2>\n<h3>2</h3>\n<h4>3</h4>\n<h5>4</h5>\n<h6>5</h6>\n<h6>6</h6>\n\
             <h2>Setext</h2>\n"
        );
        // Nothing else changes.
        assert_eq!(render_below_title("*a* `b`", None), render("*a* `b`"));
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
            "<pre><code>&lt;?php echo 1 &lt; 2 &amp;&amp; $a;\n</code></pre>\n"
        );
        assert_eq!(
            rendered("    indented <b>\n"),
            "<pre><code>indented &lt;b&gt;\n</code></pre>\n"
        );
        assert_eq!(
            rendered("> quoted\n\n---\n"),
            "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>\n"
        );
        assert_eq!(rendered("a  \nb"), "<p>a<br>\nb</p>\n");
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
        // Without a known repository a relative link would point into this site: its
        // text stays, not as a link. A fragment stays on the page.
        assert_eq!(
            rendered("[up](../README.md) [top](#usage) [q](?x) [root](/p/a) [p](docs/x.md)"),
            format!(
                "<p><a {rel}>up</a> <a href=\"#usage\" {rel}>top</a> <a {rel}>q</a> \
                 <a {rel}>root</a> <a {rel}>p</a></p>\n"
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
        // Images load from https hosts (badges, logos), without a Referer, lazily.
        let html = rendered("![The *logo*](https://example.com/logo.png \"Logo\")");
        for part in [
            "<img ",
            "src=\"https://example.com/logo.png\"",
            "alt=\"The logo\"",
            "title=\"Logo\"",
            "referrerpolicy=\"no-referrer\"",
            "loading=\"lazy\"",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        let html = rendered("[![ci](https://ci.example/b.svg)](https://ci.example)");
        assert!(
            html.starts_with(&format!(
                "<p><a href=\"https://ci.example\" {rel}><img src=\"https://ci.example/b.svg\""
            )),
            "{html}"
        );
        // Not over http (mixed content), nor from this site without a repository to
        // resolve against, nor from another host written without a scheme.
        for source in [
            "http://x.example/p.gif",
            "//x.example/p.gif",
            "/\\x.example/p.gif",
            "/docs/x.png",
            "docs/x.png",
        ] {
            let html = rendered(&format!("![pic]({source})"));
            assert!(!html.contains("src="), "{source}: {html}");
            assert!(html.contains("pic"), "{source}: {html}");
        }
    }

    fn github() -> RepositoryBase {
        RepositoryBase::of("https://github.com/acme/lib.git", "v1.2.0").unwrap()
    }

    /// [`render_below_title`] of `markdown` from the repository `base`, checked inert.
    fn rendered_from(markdown: &str, base: &RepositoryBase) -> String {
        let html = render_below_title(markdown, Some(base));
        assert_inert(markdown, &html);
        html
    }

    #[test]
    fn relative_links_and_images_resolve_against_the_repository() {
        let html = rendered_from(
            "[doc](docs/usage.md) [root](/LICENSE) [top](#usage) ![logo](/art/logo.png) \
             <img src=\"art/badge.svg\"> [up](../../../../other/repo)",
            &github(),
        );
        for part in [
            "href=\"https://github.com/acme/lib/blob/v1.2.0/docs/usage.md\"",
            "href=\"https://github.com/acme/lib/blob/v1.2.0/LICENSE\"",
            "href=\"#usage\"",
            "src=\"https://raw.githubusercontent.com/acme/lib/v1.2.0/art/logo.png\"",
            "src=\"https://raw.githubusercontent.com/acme/lib/v1.2.0/art/badge.svg\"",
            "href=\"https://github.com/other/repo\"",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        // Nothing leaves the repository's host by a relative URL.
        for escape in [
            "//evil.example/x.png",
            "/\\evil.example/x.png",
            "\\\\evil.example/x",
        ] {
            let html = rendered_from(&format!("![e]({escape}) [e]({escape})"), &github());
            assert!(!html.contains("//evil"), "{escape}: {html}");
            for (at, _) in html.match_indices("=\"h") {
                let url = &html[at + 2..];
                assert!(
                    url.starts_with("https://github.com/acme/lib/")
                        || url.starts_with("https://raw.githubusercontent.com/acme/lib/"),
                    "{escape}: {html}"
                );
            }
        }
        // The hosts whose layout is known, from https, ssh and scp-like addresses.
        for (repository, reference, pages, files) in [
            (
                "git@github.com:acme/lib.git",
                "",
                "https://github.com/acme/lib/blob/HEAD/",
                "https://raw.githubusercontent.com/acme/lib/HEAD/",
            ),
            (
                "ssh://git@gitlab.com/group/sub/lib.git",
                "0123abcd",
                "https://gitlab.com/group/sub/lib/-/blob/0123abcd/",
                "https://gitlab.com/group/sub/lib/-/raw/0123abcd/",
            ),
            (
                "https://bitbucket.org/acme/lib",
                "release/2.0",
                "https://bitbucket.org/acme/lib/src/release/2.0/",
                "https://bitbucket.org/acme/lib/raw/release/2.0/",
            ),
            (
                "https://github.com/acme/lib/",
                "a b\"<",
                "https://github.com/acme/lib/blob/HEAD/",
                "https://raw.githubusercontent.com/acme/lib/HEAD/",
            ),
        ] {
            let base = RepositoryBase::of(repository, reference).unwrap();
            assert_eq!(base.pages.as_str(), pages, "{repository}");
            assert_eq!(base.files.as_str(), files, "{repository}");
        }
        for unknown in [
            "https://git.example.com/acme/lib.git",
            "https://github.com/acme",
            "https://github.com/acme/lib/extra",
            "https://github.com/acme/../lib",
            "/srv/git/lib.git",
            "",
        ] {
            assert_eq!(RepositoryBase::of(unknown, "v1"), None, "{unknown}");
        }
    }

    #[test]
    fn renders_task_lists_and_footnotes() {
        // Task list markers are text: the allow-list has no `<input>`.
        assert_eq!(
            rendered("- [x] done\n- [ ] todo\n"),
            "<ul>\n<li>☑ done</li>\n<li>☐ todo</li>\n</ul>\n"
        );
        let html = rendered("Text[^1] and[^a b\"].\n\n[^1]: One.\n[^a b\"]: Two.\n");
        assert!(html.contains("<a href=\"#readme-fn-1\""), "{html}");
        assert!(html.contains("<a href=\"#readme-fn-a_20_b_22_\""), "{html}");
        assert!(html.contains("id=\"readme-fn-1\""), "{html}");
        assert!(html.contains("id=\"readme-fn-a_20_b_22_\""), "{html}");
        // A README's own ids could clobber the page's: only footnote ids are kept.
        let html = rendered("<div id=\"main\">x</div> <div id=\"readme-fn-1\">y</div>");
        assert!(!html.contains("id=\"main\""), "{html}");
    }

    #[test]
    fn raw_html_is_kept_within_an_allow_list() {
        // What READMEs write in HTML renders as HTML.
        let html = rendered(
            "<p align=\"center\">\n  <img src=\"https://example.com/logo.png\" width=\"120\" alt=\"Logo\">\n</p>\n\n\
             <details open>\n<summary>More</summary>\n\nHidden *text*.\n\n</details>\n\n\
             <table><tr><th align=\"right\" colspan=\"2\">H</th></tr><tr><td>1</td><td>2</td></tr></table>\n\n\
             Press <kbd>Ctrl</kbd> + <b>C</b>, H<sub>2</sub>O.",
        );
        for part in [
            "<p align=\"center\">",
            "width=\"120\"",
            "src=\"https://example.com/logo.png\"",
            "<details open=\"\">",
            "<summary>More</summary>",
            "<em>text</em>",
            "<th align=\"right\" colspan=\"2\">H</th>",
            "<kbd>Ctrl</kbd>",
            "<b>C</b>",
            "<sub>2</sub>",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        // Headings in HTML are lowered below the page's title as Markdown ones are.
        let html = render_below_title("<h1 align=\"center\">Name</h1>\n<H6>x</H6>", None);
        assert!(html.contains("<h2 align=\"center\">Name</h2>"), "{html}");
        assert!(html.contains("<h6>x</h6>"), "{html}");
        assert!(!html.contains("<h1"), "{html}");
        // Scripts, handlers, styles, frames, forms, SVG and comments do not survive as
        // markup, also inside allowed tags and attributes. (A README that uses tags read
        // by other rules, such as `script` or `svg`, has all its HTML shown as text,
        // escaped: only the markup, what is between `<` and `>`, is checked here.)
        for markdown in [
            "<script>alert(1)</script>",
            "a <script>alert(1)</script> b",
            "<img src=x onerror=alert(1)>",
            "<img src=\"https://example.com/x.png\" onerror=\"alert(1)\">",
            "<p align=\"center\" onclick=\"alert(1)\" style=\"position:fixed\">x</p>",
            "<details open ontoggle=alert(1)><summary>s</summary></details>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "<a href=\" JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>",
            "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<style>body{display:none}</style>",
            "<svg onload=alert(1)><script>alert(1)</script></svg>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<form action=\"https://evil.example\"><input name=x><button>go</button></form>",
            "<!-- <script>alert(1)</script> -->",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
            "<a href=\"https://ok.example\" target=\"_top\" rel=\"opener\">x</a>",
            "<div class=\"message ok\" id=\"content\">fake</div>",
            "<object data=\"x\"></object><embed src=\"x\"><base href=\"https://evil.example/\">",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
        ] {
            let html = rendered(markdown);
            let markup = html
                .split('<')
                .skip(1)
                .map(|tag| format!("<{}> ", tag.split('>').next().unwrap_or_default()))
                .collect::<Vec<_>>()
                .concat();
            for active in [
                "alert(1)",
                "<script",
                "onerror",
                "onclick",
                "ontoggle",
                "onload",
                "style=",
                "javascript",
                "data:",
                "<iframe",
                "<svg",
                "<form",
                "<input",
                "<!--",
                "target=",
                "opener\"",
                "class=",
                "id=",
                "<object",
                "<embed",
                "<base",
                "<meta",
                "<math",
            ] {
                assert!(
                    !markup.contains(active),
                    "{active} from {markdown:?}: {html}"
                );
            }
        }
        // In code, HTML is text.
        assert_eq!(
            rendered("`<script>alert(1)</script>`"),
            "<p><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></p>\n"
        );
    }

    #[test]
    fn html_bombs_render_as_text_and_stay_small() {
        let fill = |unit: &str| unit.repeat(MAX_README_BYTES / unit.len());
        let formatting_bomb = (0..63)
            .map(|n| format!("<b a={n}>"))
            .collect::<Vec<_>>()
            .concat();
        let bombs = [
            // Deep nesting, also with end tags that close nothing.
            fill("<div>"),
            fill("<div></x>"),
            fill("x <i></x>"),
            // Formatting elements the parser would re-create after every text.
            fill(&format!("<div>{formatting_bomb}</div><div>x</div>")),
            fill("<b a=1>x\n\n"),
            // One tag with thousands of attributes.
            format!(
                "<div {}>",
                (0..80_000)
                    .map(|n| format!("a{n} "))
                    .collect::<Vec<_>>()
                    .concat()
            ),
        ];
        let start = std::time::Instant::now();
        for bomb in &bombs {
            let html = rendered(bomb);
            assert!(
                html.len() <= MAX_GROWTH * bomb.len() + 64 * 1024,
                "{} bytes from {}",
                html.len(),
                &bomb[..40]
            );
            assert!(
                html.starts_with("<p>") && html.contains("&lt;"),
                "{}",
                &html[..80]
            );
        }
        // A real README keeps its HTML.
        assert!(rendered(&"<div>".repeat(10)).starts_with("<div><div>"));
        // Markdown nesting is capped: 50,000 quote markers give 64 block quotes.
        let html = rendered(&">".repeat(50_000));
        assert_eq!(html.matches("<blockquote>").count(), MAX_NESTING, "{html}");
        // A guard against a hang, far above what this takes (well under a second in a
        // release build): bench/fuzz.sh and the closing notes measure the time.
        assert!(start.elapsed() < std::time::Duration::from_secs(120));
    }

    #[test]
    fn only_the_listed_schemes_and_attributes_survive() {
        for markdown in [
            "<a href=\"ssh://evil.example/x\">a</a>",
            "<a href=\"magnet:?xt=urn:btih:x\">a</a>",
            "<a href=\"tel:+1555\">a</a>",
            "<a href=\"ftp://evil.example/\">a</a>",
            "<a href=\"webcal://evil.example/\">a</a>",
            // Without `//` a browser resolves these against this page.
            "[y](https:/admin)",
            "<a href=\"HTTPS:foo\">z</a>",
            "![x](https:/dist/acme/lib.zip)",
            "<img src=\"https:logout\">",
        ] {
            let html = rendered(markdown);
            assert!(
                !html.contains("href=") && !html.contains("src="),
                "{markdown}: {html}"
            );
        }
        for markdown in [
            "<blockquote cite=\"javascript:alert(1)\">q</blockquote>",
            "<p lang=\"x\" dir=\"rtl\">p</p>",
            "<img src=\"https://x.example/a.png\" align=\"anything\" hspace=\"9\">",
            "<table summary=\"s\"><tr><td headers=\"h\" scope=\"row\" char=\".\">1</td></tr></table>",
            "<del datetime=\"2020\" cite=\"https://x\">d</del><hr size=\"9\" width=\"9\">",
            "<a href=\"https://x.example\" hreflang=\"en\">a</a>",
        ] {
            let html = rendered(markdown);
            for attribute in [
                "cite=",
                "lang=",
                "dir=",
                "align=",
                "hspace=",
                "summary=",
                "headers=",
                "scope=",
                "char=",
                "datetime=",
                "size=",
                "width=",
            ] {
                assert!(
                    !html.contains(attribute),
                    "{attribute} from {markdown}: {html}"
                );
            }
        }
        // The odd repository addresses give the host they name, or nothing.
        assert_eq!(
            RepositoryBase::of("https://evil.example/x@github.com/acme/lib", ""),
            None
        );
        let base = RepositoryBase::of("ssh://git@gitlab.com:2222/acme/lib.git", "").unwrap();
        assert_eq!(
            base.pages.as_str(),
            "https://gitlab.com/acme/lib/-/blob/HEAD/"
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
        let html = rendered_from("[x](javascript%3Aalert(1))", &github());
        assert!(
            html.contains("href=\"https://github.com/acme/lib/blob/v1.2.0/javascript%3Aalert(1)\""),
            "{html}"
        );
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
        let html = rendered("![\" onerror=\"alert(1)](https://example.com/x.png)");
        assert!(
            html.contains("alt=\"&quot; onerror=&quot;alert(1)\""),
            "{html}"
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
            html.contains("title=\"it's &quot;q&quot; &lt;b&gt;\""),
            "{html}"
        );
        // Heading attributes are not enabled: the braces are text.
        assert_eq!(
            rendered("# Title {#x onclick=alert(1) .c}"),
            "<h1>Title {#x onclick=alert(1) .c}</h1>\n"
        );
        // A code block's language would be a class: none is written.
        assert_eq!(
            rendered("```x\tevil\ncode\n```"),
            "<pre><code>code\n</code></pre>\n"
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
