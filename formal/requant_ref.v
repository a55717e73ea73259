// The arithmetic contract (docs/contract.md §2 and §4), written as plainly as
// Verilog allows so that it can be read against the contract line by line.
// It is the reference of the formal proofs (qmac prove), never synthesized.
//
// Every intermediate is a 64-bit signed integer, wide enough that no
// operation below wraps unless the contract says it wraps (wrap32). W is the
// multiplier width: 32 is TFLite's Q31 M0; a narrower W is the documented
// generalization (§4): M0 in Q(W-1), double rounding's nudge 2^(W-2) and
// divisor 2^(W-1), single rounding's n = (W-1) - e.

// a = wrap32(acc << max(e, 0)) for double rounding; acc itself for single.
module ref_preshift (
    input  wire signed [31:0] acc,
    input  wire signed [5:0]  e,
    input  wire               single,
    output wire signed [31:0] a
);
    wire signed [63:0] left    = (e > 0) ? e : 0;
    wire signed [63:0] shifted = acc <<< left;                 // exact in 64 bits
    wire signed [31:0] wrap32  = shifted[31:0];                // mod 2^32
    assign a = single ? acc : wrap32;
endmodule

// Double rounding's saturating case: a == M0 == the most negative value.
module ref_saturates #(parameter integer W = 32) (
    input  wire signed [31:0]  a,
    input  wire signed [W-1:0] m0,
    input  wire                single,
    output wire                sat
);
    assign sat = !single && (a == -(64'sd1 <<< 31)) && (m0 == -(64'sd1 <<< (W - 1)));
endmodule

// Everything after the product ab = a * M0 (the contract's a·M0 / acc·M0).
module ref_post #(parameter integer W = 32) (
    input  wire signed [63:0] ab,
    input  wire               sat,
    input  wire signed [5:0]  e,
    input  wire               single,
    input  wire signed [9:0]  zp_out,
    input  wire signed [9:0]  act_min,
    input  wire signed [9:0]  act_max,
    output wire signed [63:0] r,
    output wire        [7:0]  y
);
    // Double: t = sat ? INT32_MAX : floor((a·M0 + 2^(W-2)) / 2^(W-1))
    wire signed [63:0] t      = sat ? 64'sd2147483647 : ((ab + (64'sd1 <<< (W - 2))) >>> (W - 1));
    //         rs = max(-e, 0); mask = 2^rs - 1
    wire signed [63:0] rs     = (e < 0) ? -e : 0;
    wire signed [63:0] mask   = (64'sd1 <<< rs) - 1;
    //         r = (t >> rs) + ((t & mask) > ((mask >> 1) + (t < 0 ? 1 : 0)))
    wire signed [63:0] t32    = {{32{t[31]}}, t[31:0]};            // t is an int32
    wire signed [63:0] thresh = (mask >>> 1) + ((t32 < 0) ? 1 : 0);
    wire signed [63:0] r_dbl  = (t32 >>> rs) + (((t32 & mask) > thresh) ? 1 : 0);
    // Single: n = (W-1) - e; r = (a·M0 + 2^(n-1)) >> n, or a·M0 << -n when n <= 0
    wire signed [63:0] n      = (W - 1) - e;
    wire signed [63:0] r_sgl  = (n > 0) ? ((ab + (64'sd1 <<< (n - 1))) >>> n) : (ab <<< -n);
    assign r = single ? r_sgl : r_dbl;
    // y = clamp(r + zp_out, act_min, act_max), r + zp_out without wrap
    wire signed [63:0] v      = r + zp_out;
    wire signed [63:0] vc     = (v < act_min) ? act_min : ((v > act_max) ? act_max : v);
    assign y = vc[7:0];
endmodule

// The whole requantization: y = clamp(requant(acc) + zp_out, act_min, act_max).
module requant_ref #(parameter integer W = 32) (
    input  wire signed [31:0]  acc,
    input  wire signed [W-1:0] m0,
    input  wire signed [5:0]   e,
    input  wire                single,
    input  wire signed [9:0]   zp_out,
    input  wire signed [9:0]   act_min,
    input  wire signed [9:0]   act_max,
    output wire signed [63:0]  r,
    output wire        [7:0]   y
);
    wire signed [31:0] a;
    wire               sat;
    ref_preshift pre (.acc(acc), .e(e), .single(single), .a(a));
    ref_saturates #(.W(W)) s (.a(a), .m0(m0), .single(single), .sat(sat));
    wire signed [63:0] ab = a * m0;                                   // exact
    ref_post #(.W(W)) post (.ab(ab), .sat(sat), .e(e), .single(single), .zp_out(zp_out),
        .act_min(act_min), .act_max(act_max), .r(r), .y(y));
endmodule
