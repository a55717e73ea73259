//! Subcommand implementations of the `qmac` CLI (argument structs + `run`).
pub mod bench;
pub mod coverage;
pub mod fuzz;
pub mod layer;
pub mod model;
pub mod mutants;
pub mod quantize;
pub mod regress;
pub mod vectors;
