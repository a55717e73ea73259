//! Verification campaigns over the co-simulation.
//!
//! * [`stimulus`]: parameter sets and dot products aimed at the corners.
//! * [`regress`]: the regression suites and their parallel runner.
//! * [`fuzz`]: constrained-random transactions, shrinking, repro files.
//! * [`mutants`]: mutation testing of the testbench itself.
//! * [`formal`]: formal proofs of the RTL (Yosys's SAT prover on formal/).
//! * [`vectors`]: FPGA test-vector bundles for the replay testbench.
//! * [`bench`]: co-simulation speed against a pure C++ driver.
//! * [`c_export`]: a layer as C-ready files for `sim/c_ref/qmac_ref.c`.
//! * [`report`]: run metadata and JUnit XML for CI; the figures a `--json`
//!   report carries, reports read back as types, and the HTML page of
//!   `qmac report` (SVG charts).
//! * [`pool`]: the one worker pool (a DUT per thread) of regress, model and fuzz.
pub mod bench;
pub mod c_export;
pub mod formal;
pub mod fuzz;
pub mod mutants;
pub mod pool;
pub mod regress;
pub mod report;
pub mod stimulus;
pub mod vectors;
