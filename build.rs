//! Builds the Verilated qmac_top models and the C++ shim (sim/) behind the
//! `cxx` bridge in src/cosim/dut.rs.
//!
//! Environment (all optional, documented in the README):
//! * `QMAC_RTL_DIR`  directory of the RTL to build (default `rtl/`): every
//!   `*.v` / `*.sv` in it, top module `qmac_top` with the same ports;
//! * `QMAC_LANES`    comma-separated LANES values to build models for (default `1,8`);
//! * `QMAC_MULT_W`   the multiplier width parameter MULT_W (default 32);
//! * `QMAC_VERILATOR` the verilator executable (default `verilator` on PATH).
fn main() {
    for v in [
        "QMAC_RTL_DIR",
        "QMAC_LANES",
        "QMAC_MULT_W",
        "QMAC_VERILATOR",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    // Without the `rtl` feature (the arithmetic, the formats and the golden
    // model alone) nothing is verilated and nothing needs Verilator.
    #[cfg(feature = "rtl")]
    rtl::build();
}

/// Everything that needs Verilator.
#[cfg(feature = "rtl")]
mod rtl {
    use std::env;
    use std::fmt::Write as _;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use sha2::{Digest, Sha256};

    /// The Verilator flags of every model qmac builds (also handed to the crate
    /// as QMAC_VERILATOR_FLAGS, so `qmac bench`'s build-time figure uses them).
    const VERILATOR_FLAGS: &[&str] = &[
        "--cc",
        "-O3",
        "--x-assign",
        "unique",
        "--x-initial",
        "unique",
        "--trace-fst",
    ];

    fn fail(msg: &str) -> ! {
        // cargo shows build-script stderr on failure; keep it one clear line.
        eprintln!("error: {msg}");
        std::process::exit(1);
    }

    /// The Verilated models, the embedded fixtures and the bridge.
    pub fn build() {
        let manifest = &PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
        let out = &PathBuf::from(env::var("OUT_DIR").unwrap());
        let cfg = Config::from_env(manifest);
        let inc = verilator_include(&cfg.verilator);
        let rtl = rtl_files(&cfg);
        let (gen_inc, units) = verilate_models(&cfg, &rtl, out);
        embed_fixtures(manifest, out);
        compile_bridge(manifest, &inc, &gen_inc, &units);
    }

    /// What to build, from the environment.
    struct Config {
        rtl_dir: PathBuf,
        lanes: Vec<u32>,
        mult_w: u32,
        verilator: String,
    }

    impl Config {
        fn from_env(manifest: &Path) -> Config {
            let rtl_dir = env::var("QMAC_RTL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| manifest.join("rtl"));
            let rtl_dir = if rtl_dir.is_absolute() {
                rtl_dir
            } else {
                manifest.join(rtl_dir)
            };
            let lanes: Vec<u32> = env::var("QMAC_LANES")
                .unwrap_or_else(|_| "1,8".into())
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<u32>()
                        .unwrap_or_else(|_| fail(&format!("QMAC_LANES: `{s}` is not a number")))
                })
                .collect();
            if lanes.is_empty() || lanes.iter().any(|&l| l == 0 || l > 64) {
                fail("QMAC_LANES must list LANES values in 1..=64");
            }
            let mult_w: u32 = env::var("QMAC_MULT_W")
                .unwrap_or_else(|_| "32".into())
                .trim()
                .parse()
                .unwrap_or_else(|_| fail("QMAC_MULT_W is not a number"));
            if !(2..=32).contains(&mult_w) {
                fail("QMAC_MULT_W must be in 2..=32");
            }
            let verilator = env::var("QMAC_VERILATOR").unwrap_or_else(|_| "verilator".into());
            println!("cargo:rustc-env=QMAC_VERILATOR_BIN={verilator}");
            println!(
                "cargo:rustc-env=QMAC_VERILATOR_FLAGS={}",
                VERILATOR_FLAGS.join(" ")
            );

            Config {
                rtl_dir,
                lanes,
                mult_w,
                verilator,
            }
        }
    }

    /// Checks Verilator is present and >= 5.0; its include directory.
    fn verilator_include(verilator: &str) -> PathBuf {
        let ver = Command::new(verilator).arg("--version").output().unwrap_or_else(|_| {
            fail(&format!(
                "`{verilator}` not found: qmac needs Verilator >= 5.0 (install: sudo apt-get install verilator, or run scripts/setup)"
            ))
        });
        let ver_s = String::from_utf8_lossy(&ver.stdout).to_string();
        let major: u32 = ver_s
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 5 {
            fail(&format!(
                "`{verilator} --version` says `{}`: qmac needs Verilator >= 5.0 (Debian 12: sudo apt-get install verilator)",
                ver_s.trim()
            ));
        }
        let root = Command::new(verilator)
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8_lossy(&root.stdout).trim()).join("include")
    }

    /// The RTL files, sorted, and their hash (reported by `qmac` as the RTL identity).
    fn rtl_files(cfg: &Config) -> Vec<PathBuf> {
        let (rtl_dir, mult_w) = (&cfg.rtl_dir, cfg.mult_w);
        let mut rtl: Vec<PathBuf> = fs::read_dir(rtl_dir)
            .unwrap_or_else(|e| fail(&format!("QMAC_RTL_DIR {}: {e}", rtl_dir.display())))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("v" | "sv")))
            .collect();
        rtl.sort();
        if rtl.is_empty() {
            fail(&format!("no .v/.sv files in {}", rtl_dir.display()));
        }
        println!("cargo:rerun-if-changed={}", rtl_dir.display());
        let mut h = Sha256::new();
        for f in &rtl {
            println!("cargo:rerun-if-changed={}", f.display());
            h.update(f.file_name().unwrap().to_string_lossy().as_bytes());
            h.update(fs::read(f).unwrap());
        }
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        println!("cargo:rustc-env=QMAC_RTL_SHA256={digest}");
        println!("cargo:rustc-env=QMAC_RTL_DIR={}", rtl_dir.display());
        println!("cargo:rustc-env=QMAC_BUILT_MULT_W={mult_w}");
        for f in ["sim/qmac_sim.cpp", "sim/qmac_sim.h", "src/cosim/dut.rs"] {
            println!("cargo:rerun-if-changed={f}");
        }

        rtl
    }

    /// Verilates one traced model per LANES value (and one untraced), each as one
    /// translation unit; writes `qmac_models.inc`. Returns its directory and the units.
    fn verilate_models(cfg: &Config, rtl: &[PathBuf], out: &Path) -> (PathBuf, Vec<PathBuf>) {
        let (lanes, mult_w, verilator, rtl_dir) =
            (&cfg.lanes, cfg.mult_w, &cfg.verilator, &cfg.rtl_dir);
        let mut inc_file = String::new();
        let mut models = String::from("#define QMAC_MODELS");
        let mut units = Vec::new();
        // One traced model per LANES value, plus one without tracing compiled in
        // (LANES of the first entry) so `qmac bench` can measure what tracing
        // costs when it is off.
        let variants: Vec<(u32, bool)> = lanes
            .iter()
            .map(|&l| (l, true))
            .chain(std::iter::once((lanes[0], false)))
            .collect();
        let mut models_nt = String::from("#define QMAC_MODELS_NT");
        for &(l, traced) in &variants {
            let prefix = if traced {
                format!("Vqmac_l{l}")
            } else {
                format!("Vqmac_l{l}_nt")
            };
            let mdir = out.join(prefix.to_lowercase());
            let _ = fs::remove_dir_all(&mdir);
            let status = Command::new(verilator)
                .args(VERILATOR_FLAGS)
                .args(["--top-module", "qmac_top", "--prefix", &prefix])
                .arg(format!("-GLANES={l}"))
                .arg(format!("-GMULT_W={mult_w}"))
                .arg("-Mdir")
                .arg(&mdir)
                .args(rtl)
                .status()
                .unwrap_or_else(|e| fail(&format!("running verilator: {e}")));
            if !status.success() {
                fail(&format!(
                    "verilator failed on {} (LANES={l}, MULT_W={mult_w})",
                    rtl_dir.display()
                ));
            }
            // One translation unit per model so eval's sub-functions inline.
            let mut gen: Vec<PathBuf> = fs::read_dir(&mdir)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
                .collect();
            gen.sort();
            let mut all = String::new();
            for g in &gen {
                writeln!(all, "#include \"{}\"", g.display()).unwrap();
            }
            let unit = mdir.join(format!("{prefix}__all.cpp"));
            fs::write(&unit, all).unwrap();
            units.push(unit);
            writeln!(
                inc_file,
                "#include \"{}\"",
                mdir.join(format!("{prefix}.h")).display()
            )
            .unwrap();
            if traced {
                write!(models, " QMAC_MODEL({l}, {prefix})").unwrap();
            } else {
                write!(models_nt, " QMAC_MODEL({l}, {prefix})").unwrap();
            }
        }
        writeln!(inc_file, "{models}").unwrap();
        writeln!(inc_file, "{models_nt}").unwrap();
        writeln!(inc_file, "#define QMAC_MULT_W {mult_w}").unwrap();
        let gen_inc = out.join("gen_include");
        fs::create_dir_all(&gen_inc).unwrap();
        fs::write(gen_inc.join("qmac_models.inc"), inc_file).unwrap();

        (gen_inc, units)
    }

    /// The real layer cases and whole-model fixtures, embedded for `qmac regress`.
    fn embed_fixtures(manifest: &Path, out: &Path) {
        let cases_dir = manifest.join("tests/fixtures/tflite");
        println!("cargo:rerun-if-changed={}", cases_dir.display());
        // A missing fixture directory fails the build: an empty suite would
        // "pass" having checked nothing.
        let list_dir = |d: &Path| -> Vec<PathBuf> {
            fs::read_dir(d)
                .unwrap_or_else(|e| {
                    panic!("{}: cannot read the fixture directory: {e}", d.display())
                })
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect()
        };
        let mut cases: Vec<PathBuf> = list_dir(&cases_dir);
        cases.extend(list_dir(&cases_dir.join("fc_float64")));
        cases.retain(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"));
        cases.sort();
        assert!(!cases.is_empty(), "{}: no layer case", cases_dir.display());
        let mut list = String::from("[\n");
        for c in &cases {
            let name = c.strip_prefix(&cases_dir).unwrap().display().to_string();
            writeln!(
                list,
                "    ({name:?}, include_str!({:?})),",
                c.display().to_string()
            )
            .unwrap();
        }
        list.push(']');
        fs::write(out.join("layer_cases.rs"), list).unwrap();

        // The whole-model fixtures, embedded for `qmac regress --suite models`:
        // (name, model, [(input, expected output, reference tensors)]), from the
        // three shared models and the op probes.
        let mut list = String::from("[\n");
        for sub in ["tests/fixtures/models", "tests/fixtures/op_probes"] {
            let dir = manifest.join(sub);
            println!("cargo:rerun-if-changed={}", dir.display());
            let mut models: Vec<PathBuf> = list_dir(&dir);
            models.retain(|p| p.extension().is_some_and(|e| e == "tflite"));
            assert!(!models.is_empty(), "{}: no .tflite model", dir.display());
            models.sort();
            for m in &models {
                let name = m.file_stem().unwrap().to_string_lossy().into_owned();
                let file = |f: String| dir.join(f).display().to_string();
                write!(
                    list,
                    "    ({name:?}, include_bytes!({:?}), &[",
                    m.display().to_string()
                )
                .unwrap();
                for k in 0.. {
                    // One .npy per sample, or an .npz of every model input.
                    let input = ["npy", "npz"]
                        .map(|e| dir.join(format!("{name}.input{k}.{e}")))
                        .into_iter()
                        .find(|p| p.exists());
                    let Some(input) = input else {
                        break;
                    };
                    write!(
                        list,
                        "(include_bytes!({:?}), include_bytes!({:?}), include_bytes!({:?})), ",
                        input.display().to_string(),
                        file(format!("{name}.output{k}.npy")),
                        file(format!("{name}.tensors{k}.npz"))
                    )
                    .unwrap();
                }
                list.push_str("]),\n");
            }
        }
        list.push(']');
        fs::write(out.join("model_fixtures.rs"), list).unwrap();
    }

    /// The C++ shim, the Verilated models and Verilator's runtime behind the cxx bridge.
    fn compile_bridge(manifest: &Path, inc: &Path, gen_inc: &Path, units: &[PathBuf]) {
        let mut b = cxx_build::bridge("src/cosim/dut.rs");
        b.file(manifest.join("sim/qmac_sim.cpp"))
            .files(units)
            .file(inc.join("verilated.cpp"))
            .file(inc.join("verilated_threads.cpp"))
            .file(inc.join("verilated_fst_c.cpp"))
            .include(inc)
            .include(inc.join("vltstd"))
            .include(gen_inc)
            .include(manifest.join("sim"))
            .std("c++17")
            .opt_level(3)
            .flag_if_supported("-fno-semantic-interposition")
            .define("VM_TRACE", "1")
            .define("VM_TRACE_FST", "1")
            .define("VM_TRACE_VCD", "0")
            .define("VM_COVERAGE", "0")
            .define("VM_SC", "0")
            .define("VM_TIMING", "0")
            .warnings(false)
            .compile("qmac_sim");
        println!("cargo:rustc-link-lib=z");
        println!("cargo:rustc-link-lib=pthread");
    }
}
