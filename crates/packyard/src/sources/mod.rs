//! Where versions come from. Each source turns its input into stored archives and
//! database rows; the HTTP layer only reads what sources produced.

pub mod archive_file;
pub mod artifact;
pub mod git;
pub mod vcs;
