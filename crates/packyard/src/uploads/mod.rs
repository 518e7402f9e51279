//! Uploaded archives: receiving a zip (`archive_file`) and publishing it as a version
//! (`artifact`).

pub mod archive_file;
pub mod artifact;
