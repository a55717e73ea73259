//! Mutation testing of the testbench itself: each mutant is a copy of the
//! RTL with one deliberate bug; qmac is rebuilt against it (QMAC_RTL_DIR)
//! and must fail its regression or fuzz budget ("killed").

/// One edit of a mutant: a text that occurs exactly once in `file`, and its replacement.
pub struct Edit {
    pub file: &'static str,
    pub find: &'static str,
    pub replace: &'static str,
}

/// One mutation: one or more unique text replacements in the RTL.
pub struct Mutant {
    pub name: &'static str,
    /// The kind of bug (rounding, shift, saturation, overflow, zero point,
    /// clamp, per-lane, reset, pipeline stall, handshake, register decode,
    /// configuration timing, …).
    pub class: &'static str,
    pub what: &'static str,
    pub edits: &'static [Edit],
    /// Why the mutant cannot be told apart from the original by the
    /// protocol qmac drives (such mutants are reported, not counted).
    pub equivalent: Option<&'static str>,
}

/// A mutant of one edit.
macro_rules! m1 {
    ($name:literal, $class:literal, $what:literal, $file:literal, $find:literal, $replace:literal) => {
        Mutant {
            name: $name,
            class: $class,
            what: $what,
            edits: &[Edit {
                file: $file,
                find: $find,
                replace: $replace,
            }],
            equivalent: None,
        }
    };
}

#[rustfmt::skip]
pub const MUTANTS: &[Mutant] = &[
    m1!("rdbp_no_increment", "rounding", "RoundingDivideByPOT drops its round-half-away increment", "qmac_lane.v", "q + {32'd0, (rem > thresh)}", "q"),
    m1!("rdbp_ge", "rounding", "RoundingDivideByPOT rounds at >= threshold (off by one)", "qmac_lane.v", "(rem > thresh)", "(rem >= thresh)"),
    m1!("rdbp_shift_off_by_one", "shift", "right shift amount -e - 1", "qmac_lane.v", "shift[5] ? -shift : 6'd0", "shift[5] ? -shift - 6'd1 : 6'd0"),
    m1!("srdhm_no_nudge", "rounding", "SRDHM without its 2^30 rounding nudge", "qmac_lane.v", "r2_prod + (64'sd1 <<< (MULT_W - 2))", "r2_prod"),
    m1!("srdhm_sat_m0_only", "saturation", "SRDHM saturation decided by M0 = INT32_MIN alone, ignoring the operand", "qmac_lane.v", "r2_sat  <= !rnd_single && (r1_op == 32'sh8000_0000) && (m0 ==", "r2_sat  <= !rnd_single && (m0 =="),
    m1!("srdhm_no_saturation", "saturation", "SRDHM without the INT32_MIN x INT32_MIN saturation", "qmac_lane.v", "r2_sat ? 32'sh7fff_ffff : dbl_shr[31:0]", "dbl_shr[31:0]"),
    m1!("single_no_round", "rounding", "single rounding truncates (no 2^(n-1))", "qmac_lane.v", "r2_prod + (64'sd1 <<< (n_pos - 7'd1))", "r2_prod"),
    m1!("single_n_off_by_one", "shift", "single rounding shifts by n + 1", "qmac_lane.v", "(MULT_W - 1) - {{26{shift[5]}}, shift}", "MULT_W - {{26{shift[5]}}, shift}"),
    m1!("no_left_shift", "shift", "double rounding ignores e > 0", "qmac_lane.v", "rnd_single ? acc : (acc <<< lshift)", "acc"),
    m1!("clamp_swapped", "clamp", "act_min and act_max swapped in the clamp", "qmac_lane.v", "(v < vmin) ? vmin : ((v > vmax) ? vmax : v)", "(v < vmin) ? vmax : ((v > vmax) ? vmin : v)"),
    m1!("no_zp_out", "zero point", "output zero point not added", "qmac_lane.v", "r4_v + {{54{zp_out[9]}}, zp_out}", "r4_v"),
    m1!("acc_not_cleared", "accumulator", "accumulator not reloaded with the bias on `first`", "qmac_lane.v", "addend = first ? bias : acc;", "addend = acc;"),
    m1!("ovf_not_sticky", "overflow", "overflow flag not sticky", "qmac_lane.v", "(first ? 1'b0 : ovf) | add_ovf", "add_ovf"),
    m1!("ovf_any_sign_change", "overflow", "overflow flagged on any sign change of the sum", "qmac_lane.v", "(addend[31] == p32[31]) && (sum[31] != addend[31])", "(sum[31] != addend[31])"),
    m1!("w_zero_extended", "sign extension", "weights zero-extended instead of sign-extended", "qmac_lane.v", "{{2{w[7]}}, w}", "{2'b00, w}"),
    m1!("zp_w_ignored", "zero point", "filter zero point not subtracted", "qmac_lane.v", "{{2{w[7]}}, w} - {zp_w[8], zp_w}", "{{2{w[7]}}, w}"),
    m1!("x_always_signed", "sign extension", "uint8 activations sign-extended", "qmac_top.v", "act_u8 ? {1'b0, xb} : {xb[7], xb}", "{xb[7], xb}"),
    m1!("ignore_out_ready", "pipeline stall", "pipeline advances while the output is stalled", "qmac_top.v", "wire       adv  = !out_valid || out_ready;", "wire       adv  = 1'b1;"),
    m1!("in_ready_waits_out_ready", "handshake", "in_ready gated by out_ready instead of the pipeline's advance (deadlocks a consumer that waits for out_valid)", "qmac_top.v", "assign in_ready = adv && !cfg_take;", "assign in_ready = out_ready && !cfg_take;"),
    m1!("cfg_while_busy", "configuration timing", "parameter loads accepted while results are in flight", "qmac_top.v", "assign cfg_ready = idle;", "assign cfg_ready = 1'b1;"),
    m1!("lane_bias_alias", "register decode", "BIAS[l] decoded without address bit 5 (0x120 + 4l also writes lane l's bias)", "qmac_top.v", "if ({16'd0, cfg_addr} == 32'h100 + 4 * l) bias[l]", "if ({16'd0, cfg_addr[15:6], 1'b0, cfg_addr[4:0]} == 32'h100 + 4 * l) bias[l]"),
    m1!("global_addr_alias", "register decode", "global registers decoded from 9 address bits (0x200 writes CTRL)", "qmac_top.v", "            case (cfg_addr)", "            case ({7'd0, cfg_addr[8:0]})"),
    m1!("act_max_reset_127", "reset", "ACT_MAX resets to 127 instead of 0", "qmac_top.v", "            act_max    <= 10'sd0;", "            act_max    <= 10'sd127;"),
    m1!("params_not_reset", "reset", "the parameter registers are not reset at all", "qmac_top.v", "        if (!rst_n) begin\n            rnd_single <= 1'b0;", "        if (1'b0) begin\n            rnd_single <= 1'b0;"),
    m1!("open_dot_not_reset", "reset", "the open-dot-product state is not reset", "qmac_top.v", "            open_dot <= 1'b0;\n", ""),
    m1!("open_dot_one_tap", "handshake", "a one-tap dot product leaves the dot product open (cfg_ready never returns)", "qmac_top.v", "if (in_take) open_dot <= !in_last;", "if (in_take) open_dot <= in_first || !in_last;"),
    m1!("idle_ignores_r3", "configuration timing", "idle ignores one pipeline stage: a cfg write is accepted while a result is in R3", "qmac_top.v", "r2_valid || r3_valid\n", "r2_valid\n"),
    Mutant {
        name: "zp_x_write_late",
        class: "configuration timing",
        what: "a ZP_X write takes effect two cycles late (a pipelined register-write path)",
        edits: &[
            Edit { file: "qmac_top.v", find: "            zp_x       <= 9'sd0;", replace: "            zp_x_s     <= 9'sd0;" },
            Edit { file: "qmac_top.v", find: "16'h001: zp_x    <= cfg_data[8:0];", replace: "16'h001: zp_x_s  <= cfg_data[8:0];" },
            Edit { file: "qmac_top.v", find: "    integer l;\n", replace: "    reg signed [8:0] zp_x_s, zp_x_d;\n    always @(posedge clk) begin\n        zp_x_d <= zp_x_s;\n        zp_x   <= zp_x_d;\n    end\n    integer l;\n" },
        ],
        equivalent: None,
    },
    m1!("in_ready_ignores_stall", "pipeline stall", "beats accepted while the pipeline is stalled (in_ready = adv || !cfg_take)", "qmac_top.v", "assign in_ready = adv && !cfg_take;", "assign in_ready = adv || !cfg_take;"),
    Mutant {
        name: "r3_valid_ignores_stall",
        class: "pipeline stall",
        what: "the R3 valid bit advances while the pipeline is stalled",
        edits: &[Edit {
            file: "qmac_top.v",
            find: "        end else if (adv) begin\n            s1_valid  <= s0_valid && s0_last;",
            replace: "        end else begin\n            if (!adv) r3_valid <= r2_valid;\n        end\n        if (rst_n && adv) begin\n            s1_valid  <= s0_valid && s0_last;",
        }],
        equivalent: None,
    },
    Mutant {
        name: "acc_out_ignores_stall",
        class: "pipeline stall",
        what: "acc_out updated on every cycle, not only when the pipeline advances",
        edits: &[
            Edit { file: "qmac_lane.v", find: "            acc_out <= r4_acc;\n", replace: "" },
            Edit { file: "qmac_lane.v", find: "    always @(posedge clk) begin\n        if (ld[4]) begin\n            y       <= vcl[7:0];", replace: "    always @(posedge clk) acc_out <= r4_acc;\n    always @(posedge clk) begin\n        if (ld[4]) begin\n            y       <= vcl[7:0];" },
        ],
        equivalent: None,
    },
    Mutant {
        name: "out_valid_drops_on_stall",
        class: "handshake",
        what: "out_valid drops after one stalled cycle (the held output is lost)",
        edits: &[Edit {
            file: "qmac_top.v",
            find: "        end else if (adv) begin\n            s1_valid  <= s0_valid && s0_last;",
            replace: "        end else if (!adv) begin\n            out_valid <= 1'b0;\n        end else begin\n            s1_valid  <= s0_valid && s0_last;",
        }],
        equivalent: None,
    },
    m1!("out_valid_reset_high", "reset", "out_valid resets to 1 (an output with no input after reset)", "qmac_top.v", "            out_valid <= 1'b0;", "            out_valid <= 1'b1;"),
    m1!("latency_short", "pipeline stall", "the valid bit skips a stage (results one cycle early)", "qmac_top.v", "            r3_valid  <= r2_valid;", "            r3_valid  <= r1_valid;"),
    m1!("one_tap_lost", "handshake", "one-tap dot products never produce a result", "qmac_top.v", "            s1_valid  <= s0_valid && s0_last;", "            s1_valid  <= s0_valid && s0_last && !s0_first;"),
    m1!("out_valid_sticks", "handshake", "out_valid never falls once set (every output repeated)", "qmac_top.v", "            out_valid <= r4_valid;", "            out_valid <= r4_valid || out_valid;"),
    m1!("out_reg_enabled_by_input", "pipeline stall", "the output registers load only in cycles with a beat in the input stage (stale outputs when input pauses)", "qmac_lane.v", "    always @(posedge clk) begin\n        if (ld[4]) begin\n            y       <= vcl[7:0];", "    always @(posedge clk) begin\n        if (mac_en) begin\n            y       <= vcl[7:0];"),
    m1!("x_lane_ignored", "per-lane", "CTRL.xl ignored: every lane takes in_x[7:0] (depthwise lanes compute on lane 0's channel)", "qmac_top.v", "wire [7:0]        xb    = x_lane ? s0_x[8*g +: 8] : s0_x[7:0];", "wire [7:0]        xb    = s0_x[7:0];"),
    m1!("x_always_per_lane", "per-lane", "broadcast ignored: lane l always takes in_x byte l", "qmac_top.v", "wire [7:0]        xb    = x_lane ? s0_x[8*g +: 8] : s0_x[7:0];", "wire [7:0]        xb    = s0_x[8*g +: 8];"),
    m1!("r4_enable_off_by_one", "pipeline stall", "R4 loads when a valid result enters R3 instead of R4 (a stage enable wired to the neighbouring valid bit: R4 takes R3's previous contents)", "qmac_lane.v", "        if (ld[3]) begin\n            r4_v", "        if (ld[2]) begin\n            r4_v"),
    m1!("acc_out_stage_off", "per-lane", "acc_out taken from R3 (the next result's accumulator), y right", "qmac_lane.v", "            acc_out <= r4_acc;", "            acc_out <= r3_acc;"),
    Mutant {
        name: "in_ready_slow",
        class: "handshake",
        what: "in_ready high one cycle in 4096 (progress, far too slow)",
        edits: &[
            Edit { file: "qmac_top.v", find: "assign in_ready = adv && !cfg_take;", replace: "reg [11:0] slow;\n    always @(posedge clk) slow <= rst_n ? slow + 12'd1 : 12'd0;\n    assign in_ready = adv && !cfg_take && (slow == 12'd0);" },
        ],
        equivalent: None,
    },
    m1!("cfg_no_priority", "handshake", "an input beat is accepted in the cycle a cfg write is", "qmac_top.v", "assign in_ready = adv && !cfg_take;", "assign in_ready = adv;"),
];

/// Apply `m` to the RTL files in `dir` (in place). Errors if a text is not found exactly once.
pub fn apply(dir: &std::path::Path, m: &Mutant) -> anyhow::Result<()> {
    for e in m.edits {
        let p = dir.join(e.file);
        let text = std::fs::read_to_string(&p)?;
        let n = text.matches(e.find).count();
        anyhow::ensure!(
            n == 1,
            "mutant {}: `{}` occurs {n} times in {} (expected once)",
            m.name,
            e.find,
            e.file
        );
        std::fs::write(&p, text.replacen(e.find, e.replace, 1))?;
    }
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
        .to_string()
}
