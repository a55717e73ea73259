// qmac_lane: one int8 x int8 MAC lane with its requantization pipeline.
//
// Datapath only: the valid bits and the stall logic live in qmac_top, which
// drives `mac_en` (a beat enters the accumulator this cycle) and `ld` (the
// pipeline advances and stage R1 / R2 / R3 / R4 / out receives a valid
// result this cycle). A requantization stage loads only a valid result: in a
// K-tap convolution it works one cycle in K, so its registers (and, in a
// simulator, its evaluation) idle the rest. See qmac_top.v for the interface
// contract.
//
//   S1  acc  <= (first ? bias : acc) + (x - zp_x)*(w - zp_w)   32-bit wrap, sticky ovf
//   R1  op   <= double ? wrap32(acc << max(e,0)) : acc
//   R2  prod <= op * m0                                        (exact, in 64 bits)
//   R3  double: t = sat ? INT32_MAX : (prod + 2^(W-2)) >>> (W-1)
//       single: n = (W-1) - e; n > 0 ? (prod + 2^(n-1)) >>> n : prod << -n
//   R4  double: (t >>> rs) + round-half-away bit, rs = max(-e, 0); single: pass
//   R5  y    <= clamp(r + zp_out, act_min, act_max)           (in qmac_top's out stage)
//
// Arithmetic contract: ARITHMETIC.md / docs/arithmetic.md (bit-exact with
// the qmac golden model for e in [-31, 30]).
module qmac_lane #(
    parameter integer MULT_W = 32
) (
    input  wire                     clk,
    input  wire                     mac_en,     // pipeline advances && a beat is in the input stage
    input  wire                     first,      // that beat starts a dot product
    input  wire [4:0]               ld,         // advance && a valid result enters R1, R2, R3, R4, out (bits 0..4)
    input  wire signed [8:0]        x_ext,      // activation, sign/zero-extended
    input  wire signed [7:0]        w,          // this lane's weight
    input  wire signed [8:0]        zp_x,
    input  wire signed [8:0]        zp_w,
    input  wire signed [31:0]       bias,
    input  wire signed [MULT_W-1:0] m0,
    input  wire signed [5:0]        shift,      // TFLite e: > 0 left, < 0 right
    input  wire                     rnd_single, // 1: single rounding, 0: double
    input  wire signed [9:0]        zp_out,
    input  wire signed [9:0]        act_min,
    input  wire signed [9:0]        act_max,
    output reg         [7:0]        y,
    output reg  signed [31:0]       acc_out,
    output reg                      ovf_out
);

    // ---------------- S1: multiply-accumulate ----------------
    wire signed [9:0]  dx = {x_ext[8], x_ext} - {zp_x[8], zp_x};
    wire signed [9:0]  dw = {{2{w[7]}}, w} - {zp_w[8], zp_w};
    wire signed [19:0] p  = dx * dw;
    wire signed [31:0] p32 = {{12{p[19]}}, p};

    reg  signed [31:0] acc;
    reg                ovf;
    wire signed [31:0] addend = first ? bias : acc;
    wire signed [31:0] sum    = addend + p32;
    wire               add_ovf = (addend[31] == p32[31]) && (sum[31] != addend[31]);

    always @(posedge clk) begin
        if (mac_en) begin
            acc <= sum;
            ovf <= (first ? 1'b0 : ovf) | add_ovf;
        end
    end

    // ---------------- R1: pre-shift (double rounding left shifts) ----------------
    wire [4:0] lshift = shift[5] ? 5'd0 : shift[4:0];
    reg  signed [31:0] r1_op, r1_acc;
    reg                r1_ovf;
    always @(posedge clk) begin
        if (ld[0]) begin
            r1_op  <= rnd_single ? acc : (acc <<< lshift);
            r1_acc <= acc;
            r1_ovf <= ovf;
        end
    end

    // ---------------- R2: the multiplier ----------------
    // The exact product, sign-extended to 64 bits (|op*m0| <= 2^62 for MULT_W <= 32).
    reg signed [63:0]   r2_prod;
    reg                 r2_sat;
    reg signed [31:0]   r2_acc;
    reg                 r2_ovf;
    always @(posedge clk) begin
        if (ld[1]) begin
            r2_prod <= r1_op * m0;
            r2_sat  <= !rnd_single && (r1_op == 32'sh8000_0000) && (m0 == {1'b1, {(MULT_W-1){1'b0}}});
            r2_acc  <= r1_acc;
            r2_ovf  <= r1_ovf;
        end
    end

    // ---------------- R3: first (or only) rounding ----------------
    // All of R3..R5 is 64 bits wide: |r2_prod| <= 2^62, so adding a rounding
    // constant of at most 2^61 (n <= 62, i.e. e >= -31) cannot overflow.
    // Double: SaturatingRoundingDoublingHighMul, ties towards +inf.
    wire signed [63:0]   dbl_sum = r2_prod + (64'sd1 <<< (MULT_W - 2));
    // Waiver: the high bits of the shifted product are sign copies (|t| < 2^31
    // except the saturated pair, which r2_sat replaces), so they are dropped.
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [63:0]   dbl_shr = dbl_sum >>> (MULT_W - 1);
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [31:0]   dbl_t   = r2_sat ? 32'sh7fff_ffff : dbl_shr[31:0];
    // Single: one rounding shift by n = (W-1) - e, or an exact left shift when n <= 0.
    // Waiver: n32 bits 31:8 are sign copies (|n| <= 63 for every 6-bit e).
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [31:0]   n32     = (MULT_W - 1) - {{26{shift[5]}}, shift};
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [7:0]    n       = n32[7:0];
    wire        [6:0]    n_pos   = n[6:0];
    wire        [6:0]    n_neg   = -n[6:0];
    wire signed [63:0]   sgl_rnd = r2_prod + (64'sd1 <<< (n_pos - 7'd1));
    wire signed [63:0]   sgl_shr = sgl_rnd >>> n_pos;
    wire signed [63:0]   sgl_shl = r2_prod <<< n_neg;
    wire signed [63:0]   sgl_r   = (n > 8'sd0) ? sgl_shr : sgl_shl;
    reg  signed [63:0]   r3_v;
    reg signed [31:0]    r3_acc;
    reg                  r3_ovf;
    always @(posedge clk) begin
        if (ld[2]) begin
            r3_v   <= rnd_single ? sgl_r : {{32{dbl_t[31]}}, dbl_t};
            r3_acc <= r2_acc;
            r3_ovf <= r2_ovf;
        end
    end

    // ---------------- R4: RoundingDivideByPOT (double rounding only) ----------------
    wire        [5:0]  rs     = shift[5] ? -shift : 6'd0;   // 0..32
    wire signed [31:0] t      = r3_v[31:0];
    wire        [32:0] mask   = ({32'd0, 1'b1} << rs) - 33'd1;
    wire        [32:0] rem    = {t[31], t} & mask;
    wire        [32:0] thresh = (mask >> 1) + {32'd0, t[31]};
    wire signed [32:0] q      = $signed({t[31], t}) >>> rs;   // arithmetic: the operand must be signed
    wire signed [32:0] rdiv   = q + {32'd0, (rem > thresh)};
    reg  signed [63:0] r4_v;
    reg  signed [31:0] r4_acc;
    reg                r4_ovf;
    always @(posedge clk) begin
        if (ld[3]) begin
            r4_v   <= rnd_single ? r3_v : {{31{rdiv[32]}}, rdiv};
            r4_acc <= r3_acc;
            r4_ovf <= r3_ovf;
        end
    end

    // ---------------- R5: zero point and clamp ----------------
    wire signed [63:0] v    = r4_v + {{54{zp_out[9]}}, zp_out};
    wire signed [63:0] vmin = {{54{act_min[9]}}, act_min};
    wire signed [63:0] vmax = {{54{act_max[9]}}, act_max};
    // Waiver: vcl lies in [act_min, act_max], a 10-bit range; the output is
    // its low 8 bits (int8 or uint8 by the configured bounds).
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [63:0] vcl  = (v < vmin) ? vmin : ((v > vmax) ? vmax : v);
    /* verilator lint_on UNUSEDSIGNAL */
    always @(posedge clk) begin
        if (ld[4]) begin
            y       <= vcl[7:0];
            acc_out <= r4_acc;
            ovf_out <= r4_ovf;
        end
    end
endmodule
