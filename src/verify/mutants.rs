//! Mutation testing of the testbench itself: each mutant is a copy of the
//! RTL with one deliberate bug; qmac is rebuilt against it (QMAC_RTL_DIR)
//! and must fail its regression or fuzz budget ("killed").

/// One mutation: a unique text replacement in one RTL file.
pub struct Mutant {
    pub name: &'static str,
    pub what: &'static str,
    pub file: &'static str,
    pub find: &'static str,
    pub replace: &'static str,
    /// Why the mutant cannot be told apart from the original by the
    /// protocol qmac drives (such mutants are reported, not counted).
    pub equivalent: Option<&'static str>,
}

pub const MUTANTS: &[Mutant] = &[
    Mutant { name: "rdbp_no_increment", what: "RoundingDivideByPOT drops its round-half-away increment", file: "qmac_lane.v", find: "q + {32'd0, (rem > thresh)}", replace: "q", equivalent: None },
    Mutant { name: "rdbp_ge", what: "RoundingDivideByPOT rounds at >= threshold (off by one)", file: "qmac_lane.v", find: "(rem > thresh)", replace: "(rem >= thresh)", equivalent: None },
    Mutant { name: "rdbp_shift_off_by_one", what: "right shift amount -e - 1", file: "qmac_lane.v", find: "shift[5] ? -shift : 6'd0", replace: "shift[5] ? -shift - 6'd1 : 6'd0", equivalent: None },
    Mutant { name: "srdhm_no_nudge", what: "SRDHM without its 2^30 rounding nudge", file: "qmac_lane.v", find: "r2_prod + (64'sd1 <<< (MULT_W - 2))", replace: "r2_prod", equivalent: None },
    Mutant { name: "srdhm_sat_m0_only", what: "SRDHM saturation decided by M0 = INT32_MIN alone, ignoring the operand", file: "qmac_lane.v", find: "r2_sat  <= !rnd_single && (r1_op == 32'sh8000_0000) && (m0 ==", replace: "r2_sat  <= !rnd_single && (m0 ==", equivalent: None },
    Mutant { name: "srdhm_no_saturation", what: "SRDHM without the INT32_MIN x INT32_MIN saturation", file: "qmac_lane.v", find: "r2_sat ? 32'sh7fff_ffff : dbl_shr[31:0]", replace: "dbl_shr[31:0]", equivalent: None },
    Mutant { name: "single_no_round", what: "single rounding truncates (no 2^(n-1))", file: "qmac_lane.v", find: "r2_prod + (64'sd1 <<< (n_pos - 7'd1))", replace: "r2_prod", equivalent: None },
    Mutant { name: "single_n_off_by_one", what: "single rounding shifts by n + 1", file: "qmac_lane.v", find: "(MULT_W - 1) - {{26{shift[5]}}, shift}", replace: "MULT_W - {{26{shift[5]}}, shift}", equivalent: None },
    Mutant { name: "no_left_shift", what: "double rounding ignores e > 0", file: "qmac_lane.v", find: "rnd_single ? acc : (acc <<< lshift)", replace: "acc", equivalent: None },
    Mutant { name: "clamp_swapped", what: "act_min and act_max swapped in the clamp", file: "qmac_lane.v", find: "(v < vmin) ? vmin : ((v > vmax) ? vmax : v)", replace: "(v < vmin) ? vmax : ((v > vmax) ? vmin : v)", equivalent: None },
    Mutant { name: "no_zp_out", what: "output zero point not added", file: "qmac_lane.v", find: "r4_v + {{54{zp_out[9]}}, zp_out}", replace: "r4_v", equivalent: None },
    Mutant { name: "acc_not_cleared", what: "accumulator not reloaded with the bias on `first`", file: "qmac_lane.v", find: "addend = first ? bias : acc;", replace: "addend = acc;", equivalent: None },
    Mutant { name: "ovf_not_sticky", what: "overflow flag not sticky", file: "qmac_lane.v", find: "(first ? 1'b0 : ovf) | add_ovf", replace: "add_ovf", equivalent: None },
    Mutant { name: "ovf_any_sign_change", what: "overflow flagged on any sign change of the sum", file: "qmac_lane.v", find: "(addend[31] == p32[31]) && (sum[31] != addend[31])", replace: "(sum[31] != addend[31])", equivalent: None },
    Mutant { name: "w_zero_extended", what: "weights zero-extended instead of sign-extended", file: "qmac_lane.v", find: "{{2{w[7]}}, w}", replace: "{2'b00, w}", equivalent: None },
    Mutant { name: "zp_w_ignored", what: "filter zero point not subtracted", file: "qmac_lane.v", find: "{{2{w[7]}}, w} - {zp_w[8], zp_w}", replace: "{{2{w[7]}}, w}", equivalent: None },
    Mutant { name: "x_always_signed", what: "uint8 activations sign-extended", file: "qmac_top.v", find: "act_u8 ? {1'b0, s0_x} : {s0_x[7], s0_x}", replace: "{s0_x[7], s0_x}", equivalent: None },
    Mutant { name: "ignore_out_ready", what: "pipeline advances while the output is stalled", file: "qmac_top.v", find: "wire       adv  = !out_valid || out_ready;", replace: "wire       adv  = 1'b1;", equivalent: None },
    Mutant { name: "in_ready_waits_out_ready", what: "in_ready gated by out_ready instead of the pipeline's advance (deadlocks a consumer that waits for out_valid)", file: "qmac_top.v", find: "assign in_ready = adv && !cfg_take;", replace: "assign in_ready = out_ready && !cfg_take;", equivalent: None },
    Mutant { name: "cfg_while_busy", what: "parameter loads accepted while results are in flight", file: "qmac_top.v", find: "assign cfg_ready = idle;", replace: "assign cfg_ready = 1'b1;", equivalent: None },
    Mutant {
        name: "cfg_no_priority",
        what: "an input beat is accepted in the cycle a cfg write is",
        file: "qmac_top.v",
        find: "assign in_ready = adv && !cfg_take;",
        replace: "assign in_ready = adv;",
        equivalent: Some("qmac's driver (and the replay testbench) never assert cfg_valid and in_valid in the same cycle, so the priority rule is never exercised; only a host that overlaps them could tell"),
    },
];

/// Apply `m` to the RTL files in `dir` (in place). Errors if the text is not found exactly once.
pub fn apply(dir: &std::path::Path, m: &Mutant) -> anyhow::Result<()> {
    let p = dir.join(m.file);
    let text = std::fs::read_to_string(&p)?;
    let n = text.matches(m.find).count();
    anyhow::ensure!(
        n == 1,
        "mutant {}: `{}` occurs {n} times in {} (expected once)",
        m.name,
        m.find,
        m.file
    );
    std::fs::write(&p, text.replacen(m.find, m.replace, 1))?;
    Ok(())
}

/// The first failure message of a regress / fuzz run's output: a scoreboard
/// line (`cycle N: …`), else the line under the first `FAIL` line, else the
/// `FAIL` line itself or the error line.
pub fn first_failure(out: &str) -> String {
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let scoreboard = lines.iter().find(|l| {
        l.strip_prefix("cycle ")
            .and_then(|r| r.split(':').next())
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    let under_fail = || {
        lines.iter().position(|l| l.starts_with("FAIL")).map(|i| {
            lines
                .get(i + 1)
                .filter(|n| !n.is_empty())
                .unwrap_or(&lines[i])
        })
    };
    let error = || lines.iter().find(|l| l.starts_with("error:"));
    scoreboard
        .or_else(under_fail)
        .or_else(error)
        .copied()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}
