// Formal harness: qmac_lane's requantization (R1..R5) against requant_ref.
//
// The lane runs one-tap dot products with x = w = zp_x = zp_w = 0, so its
// accumulator is the bias, a free constant: every accumulator value is
// covered. Every requantization parameter is a free constant within the
// domain qmac drives (the assumptions below). Every stage loads every cycle
// (ld = 5'b11111): the stall behaviour is proven by top_protocol.sv.
//
// Two variants:
// * `CUT_PRODUCT` defined (what qmac prove runs, one shift per run with
//   FIX_E; the script cuts the lane's r2_prod register, so its value is free
//   every cycle): the stages before the multiplier (r1_op == the contract's
//   a, r2_sat == its saturation case) and the stages after it (y ==
//   ref_post(P) for every product P in the reachable range
//   |P| <= 2^31 * 2^(W-1), as |a| <= 2^31 and |M0| <= 2^(W-1)) are proven
//   separately. With r2_prod == r1_op * m0 (the RTL line, Verilog's exact
//   signed product) they compose into y == requant_ref(acc).
// * `CUT_PRODUCT` undefined: end to end, y == requant_ref(acc), the solver
//   seeing through both multipliers. It does not close (MiniSat, 2 minutes
//   per shift even at W = 8), but as a search it finds a mutant's
//   counterexample with a realizable product in seconds.
module lane_requant #(parameter integer W = 32) (input wire clk);
    (* anyconst *) reg signed [31:0]  acc;
    (* anyconst *) reg signed [W-1:0] m0;
    (* anyconst *) reg signed [5:0]   e;
    (* anyconst *) reg                single;
    (* anyconst *) reg signed [9:0]   zp_out, act_min, act_max;
    // The domain qmac drives (src/verify/fuzz/repro.rs, the transaction file):
    always @* begin
        assume (e >= -31 && e <= 30);
`ifdef FIX_E
        // A case split: this run covers one shift (and, with FIX_SINGLE, one mode).
        assume (e == `FIX_E);
`endif
`ifdef FIX_SINGLE
        assume (single == `FIX_SINGLE);
`endif
        assume (act_min <= act_max && act_min >= -128 && act_max <= 255);
        assume (zp_out >= -256 && zp_out <= 255);
    end

    wire [7:0] y;
    wire signed [31:0] acc_out;
    wire ovf_out;
    qmac_lane #(.MULT_W(W)) dut (
        .clk(clk), .mac_en(1'b1), .first(1'b1), .ld(5'b11111),
        .x_ext(9'sd0), .w(8'sd0), .zp_x(9'sd0), .zp_w(9'sd0), .bias(acc),
        .m0(m0), .shift(e), .rnd_single(single),
        .zp_out(zp_out), .act_min(act_min), .act_max(act_max),
        .y(y), .acc_out(acc_out), .ovf_out(ovf_out));

    // Cycles since the start; the pipeline is full from cycle 6 on.
    reg [3:0] t = 4'd0;
    always @(posedge clk) if (t != 4'd15) t <= t + 4'd1;

    // The accumulator travels with its result.
    always @* if (t >= 4'd6) assert (acc_out == acc && !ovf_out);

`ifndef CUT_PRODUCT
    wire [7:0] y_ref;
    wire signed [63:0] r_ref;
    requant_ref #(.W(W)) ref0 (.acc(acc), .m0(m0), .e(e), .single(single), .zp_out(zp_out),
        .act_min(act_min), .act_max(act_max), .r(r_ref), .y(y_ref));
    always @* if (t >= 4'd6) assert (y == y_ref);
`else
    // Probes of the lane's internal registers, connected by the proof script
    // (`connect -set probe_op dut.r1_op` ...) after flattening.
    wire signed [31:0] probe_op;
    wire               probe_sat;
    wire signed [63:0] probe_prod;
    // Before the multiplier: the operand and the saturation flag.
    wire signed [31:0] a_ref;
    wire               sat_ref;
    ref_preshift pre (.acc(acc), .e(e), .single(single), .a(a_ref));
    ref_saturates #(.W(W)) s (.a(a_ref), .m0(m0), .single(single), .sat(sat_ref));
    always @* if (t >= 4'd2) assert (probe_op == a_ref);
    always @* if (t >= 4'd3) assert (probe_sat == sat_ref);
    // The product is free: only its reachable range is assumed,
    // |a * m0| <= 2^31 * 2^(W-1) (as |a| <= 2^31 and |m0| <= 2^(W-1)).
    always @* assume (probe_prod >= -(64'sd1 <<< (30 + W)) && probe_prod <= (64'sd1 <<< (30 + W)));
    // After the multiplier: y three cycles after R2 == ref_post(that product).
    reg signed [63:0] p1, p2, p3;
    always @(posedge clk) begin
        p1 <= probe_prod;
        p2 <= p1;
        p3 <= p2;
    end
    wire [7:0] y_post;
    wire signed [63:0] r_post;
    ref_post #(.W(W)) post (.ab(p3), .sat(sat_ref), .e(e), .single(single), .zp_out(zp_out),
        .act_min(act_min), .act_max(act_max), .r(r_post), .y(y_post));
    always @* if (t >= 4'd6) assert (y == y_post);
`endif
endmodule
