//! Images: names and where they come from, reading them from any source,
//! deciding whether to trust them (the signature policy), streaming their
//! layers into OSTree, and the repository of pulled images.
//! Nothing here knows of deployments: what they keep is passed in.

pub mod auth;
pub mod catalog;
pub mod compose;
pub mod distribution;
pub mod import;
pub mod lookaside;
pub mod lookup;
pub mod name;
pub mod policy;
pub mod pull;
pub mod refescape;
pub mod signature;
pub mod source;
pub mod store;
pub mod targuard;
