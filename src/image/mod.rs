//! Images: names and where they come from, reading them from any source,
//! and streaming their layers into OSTree.

pub mod import;
pub mod name;
pub mod source;
