// Formal harness: qmac_lane's multiply-accumulate stage (S1) against the
// contract (docs/contract.md §1):
//   acc = wrap32(bias + sum (x - zp_x)(w - zp_w)), over the beats of a dot
//         product, restarted with the bias on `first`;
//   ovf = some partial sum (bias + p1, + p2, ...) left the int32 range,
//         sticky within the dot product, cleared only by `first`.
// Every input is free in every cycle (beats with or without mac_en, any
// first pattern, zero points and bias changing at will); x_ext is an int8
// or uint8 activation as qmac_top extends it, zero points any 9-bit value.
// Proven by temporal induction (unbounded). The product itself is the RTL
// line `p = dx * dw` (Verilog's exact signed product of two 10-bit values,
// |p| < 2^19 in 20 bits): the proof checks its operands (probe_dx,
// probe_dw: the exact differences) and takes the product from the lane, so
// the solver never compares two multipliers.
module lane_mac (
    input wire              clk,
    input wire              mac_en,
    input wire              first,
    input wire signed [8:0] x_ext,
    input wire signed [7:0] w,
    input wire signed [8:0] zp_x,
    input wire signed [8:0] zp_w,
    input wire signed [31:0] bias
);
    always @* assume (x_ext >= -128 && x_ext <= 255);
    wire [7:0] y; wire signed [31:0] acc_out; wire ovf_out;
    qmac_lane #(.MULT_W(8)) dut (
        .clk(clk), .mac_en(mac_en), .first(first), .ld(5'b00000),
        .x_ext(x_ext), .w(w), .zp_x(zp_x), .zp_w(zp_w), .bias(bias),
        .m0(8'sd0), .shift(6'sd0), .rnd_single(1'b0),
        .zp_out(10'sd0), .act_min(10'sd0), .act_max(10'sd0),
        .y(y), .acc_out(acc_out), .ovf_out(ovf_out));
    // Probes of the lane's accumulator and flag (connected by qmac prove).
    wire signed [31:0] probe_acc;
    wire               probe_ovf;
    wire signed [9:0]  probe_dx, probe_dw;
    wire signed [19:0] probe_p;

    // The contract, with exact integers.
    reg               seen = 1'b0;     // a first beat has been accumulated
    reg signed [31:0] acc_ref;
    reg               ovf_ref;
    wire signed [9:0]  dx   = x_ext - zp_x;             // exact: [-383, 511]
    wire signed [9:0]  dw   = w - zp_w;                 // exact: [-383, 383]
    always @* assert (probe_dx == dx && probe_dw == dw);
    wire signed [33:0] sum  = (first ? bias : acc_ref) + probe_p;   // probe_p = dx * dw, exact
    wire               out_of_int32 = sum < -(34'sd1 <<< 31) || sum > (34'sd1 <<< 31) - 1;
    always @(posedge clk) if (mac_en) begin
        seen    <= seen || first;
        acc_ref <= sum[31:0];
        ovf_ref <= (first ? 1'b0 : ovf_ref) || out_of_int32;
    end
    always @* if (seen) assert (probe_acc == acc_ref && probe_ovf == ovf_ref);
endmodule
