//! Every mutant of `qmac mutants` applies to the current RTL (its text occurs
//! exactly once), and each mutated copy still passes Verilator lint, so a
//! mutant is never silently stillborn.
use std::process::Command;

#[test]
fn every_mutant_applies_and_lints() {
    let rtl = concat!(env!("CARGO_MANIFEST_DIR"), "/rtl");
    for m in qmac::verify::mutants::MUTANTS {
        let dir =
            std::env::temp_dir().join(format!("qmac-msite-{}-{}", std::process::id(), m.name));
        std::fs::create_dir_all(&dir).unwrap();
        // the datapath's files (rtl/fpga/, the on-chip player, is not copied)
        for e in std::fs::read_dir(rtl).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
            }
        }
        qmac::verify::mutants::apply(&dir, m).unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let out = Command::new("verilator")
            .args(["--lint-only", "--top-module", "qmac_top", "-Wno-fatal"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            m.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
