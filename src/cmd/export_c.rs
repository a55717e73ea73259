//! `qmac export-c`: layer cases as C-ready files and a reference C program.

use std::path::PathBuf;

use anyhow::Result;

use qmac::error::InputError;
use qmac::formats::qcase::AnyCase;
use qmac::verify::c_export;

/// The long `--help` text of `qmac export-c`.
pub const LONG_ABOUT: &str = "Writes each layer case (TFLite or PyTorch qcase files, case directories or \
index.json lists, as `qmac layer` takes) as C-ready files into --out: NAME.dims.txt (the dimensions and \
scalars, one per line, in the order of sim/c_ref/qmac_ref.c's `enum dim`), NAME.input.txt, NAME.weights.txt, \
NAME.bias.txt, NAME.folded_bias.txt (bias - zp_x*sum(w) + K*zp_x*zp_w per output channel, so hardware with \
symmetric weights needs no zero-point logic), NAME.m0.txt and NAME.shift.txt (per output channel, \
QuantizeMultiplier's M0 and exponent), NAME.output.txt (the golden model's integer output) — every .txt file one \
integer per line and nothing else, so a plain C fscanf(\"%d\") loop reads it — and NAME.h, a C header with \
the same data as #defines and arrays. Also writes layers.lst (the NAMEs, one per line) and qmac_ref.c, the \
reference C program: `cc -O2 -o qmac_ref qmac_ref.c && ./qmac_ref OUT/NAME | diff - OUT/NAME.output.txt`. \
The output directory is written all or nothing and an existing non-empty one is refused without --force.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Case files (.json), case directories (case.toml + arrays), or case index files (index.json)
    #[arg(required = true, num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// Directory to write into (must not exist or be empty, unless --force)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the files written in an existing --out
    #[arg(long)]
    pub force: bool,
}

/// The reference C program, written beside the exported layers.
const QMAC_REF_C: &str = include_str!("../../sim/c_ref/qmac_ref.c");

/// A layer's file-name stem: the case file's (or directory's) name without
/// `.json` as a C identifier, made unique with `_2`, `_3`, … when two cases
/// share it ignoring case (the header's include guard and macros are upper
/// case).
fn stem(p: &std::path::Path, taken: &mut std::collections::HashSet<String>) -> String {
    let base = p
        .file_name()
        .map_or_else(|| "layer".into(), |n| n.to_string_lossy().into_owned());
    let base = base.strip_suffix(".json").unwrap_or(&base).to_string();
    let base = c_export::ident(&base);
    let mut name = base.clone();
    let mut k = 2;
    while !taken.insert(name.to_lowercase()) {
        name = format!("{base}_{k}");
        k += 1;
    }
    name
}

pub fn run(a: &Args) -> Result<()> {
    let paths = crate::cmd::layer::expand_inputs(&a.cases);
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for p in &paths {
        match qmac::formats::qcase::read_any(p)? {
            AnyCase::Layer(c) => cases.push((p.clone(), *c)),
            // A PyTorch export's index lists its elementwise steps too: they
            // are not MAC layers, so they are named and left out.
            AnyCase::Elementwise(e) => skipped.push((p.clone(), e.op.name())),
        }
    }
    if cases.is_empty() {
        if let Some((first, op)) = skipped.first() {
            return Err(InputError::new(
                first,
                "field `op`",
                format!("\"{op}\" is an elementwise case: export-c writes MAC layers (conv2d, depthwise_conv2d, fully_connected) only"),
            )
            .into());
        }
    }
    let stage = qmac::formats::StagedDir::new(&a.out, "--out", a.force)?;
    for (p, op) in &skipped {
        eprintln!(
            "note: not exported to C: {} ({op}): an elementwise step, not a MAC layer",
            p.display()
        );
    }
    let mut taken = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut renamed = Vec::new();
    let mut outputs = 0usize;
    for (p, case) in &cases {
        let name = stem(p, &mut taken);
        let plain = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if plain
            .as_deref()
            .map(|n| n.strip_suffix(".json").unwrap_or(n))
            != Some(name.as_str())
        {
            renamed.push(format!("{} as {name}", p.display()));
        }
        let layer = c_export::layer(case)?;
        outputs += layer.output.len();
        c_export::write(&layer, stage.path(), &name, &p.display().to_string())?;
        names.push(name);
    }
    let put = |f: &str, text: &str| -> Result<()> {
        use std::io::Write;
        let mut h = qmac::formats::create_file(&stage.path().join(f), false, "--force")?;
        h.write_all(text.as_bytes())?;
        Ok(())
    };
    put("layers.lst", &(names.join("\n") + "\n"))?;
    put("qmac_ref.c", QMAC_REF_C)?;
    stage.commit()?;
    println!(
        "{}: {} layer(s), {} outputs: NAME.{{dims,input,weights,bias,folded_bias,m0,shift,output}}.txt and NAME.h for {}; qmac_ref.c, layers.lst",
        a.out.display(),
        names.len(),
        outputs,
        names.join(", ")
    );
    if !renamed.is_empty() {
        println!(
            "named as C identifiers, unique ignoring case: {}",
            renamed.join(", ")
        );
    }
    println!(
        "check: cc -O2 -o qmac_ref {0}/qmac_ref.c && ./qmac_ref {0}/{1} | diff - {0}/{1}.output.txt",
        a.out.display(),
        names.first().map_or("NAME", String::as_str)
    );
    Ok(())
}
