//! The workspace's shape, read from its manifests and sources rather than run: dependencies
//! point inward only (`layers`), and no crate's modules import each other in a cycle
//! (`modules`).

mod layers;
mod modules;
