// qmac_top: LANES int8 x int8 MAC lanes with per-lane requantization, an
// output-stationary slice of an int8 CNN accelerator.
//
// Clock / reset: single clock `clk`, synchronous active-low reset `rst_n`
// (clears every valid bit, the open-dot-product state and all parameters).
//
// Input stream (AXI-Stream rules: a beat transfers when in_valid && in_ready;
// the source holds valid and data steady until accepted):
//   in_x[8*LANES-1:0]    activations (int8, or uint8 when CTRL.u8). CTRL.xl = 0
//                        (broadcast, the reset value): every lane takes bits 7:0
//                        and bits 8*LANES-1:8 are ignored (a convolution's one
//                        input pixel against LANES output channels).
//                        CTRL.xl = 1 (per-lane): lane l takes bits 8l+7:8l (a
//                        depthwise convolution or an elementwise product: each
//                        lane its own channel, so every lane does work).
//   in_w[8*LANES-1:0]    one int8 weight per lane (lane l = bits 8l+7:8l)
//   in_first / in_last   the beat starts / ends one dot product (both on a 1-tap one)
// Output stream (same rules; out_* hold steady while out_valid && !out_ready):
//   out_y[8*LANES-1:0]   requantized outputs (8 bits; int8 or uint8 by the host's clamp)
//   out_acc[32*LANES-1:0] the wrapped 32-bit accumulators they came from
//   out_ovf[LANES-1:0]   sticky per-lane overflow: some partial sum of that dot
//                        product (bias + p1, + p2, ...) overflowed int32
// Parameter load (cfg_valid && cfg_ready writes cfg_data to cfg_addr):
//   0x000 CTRL     bit 0: 1 = single rounding, 0 = double; bit 1: 1 = uint8 activations;
//                  bit 2 (xl): 1 = per-lane activations, 0 = in_x[7:0] broadcast
//   0x001 ZP_X     9-bit signed     0x002 ZP_W  9-bit signed
//   0x003 ZP_OUT   10-bit signed    0x004 ACT_MIN 10-bit signed  0x005 ACT_MAX 10-bit signed
//   0x100 + 4*l + 0: BIAS[l] (32-bit)   + 1: M0[l] (MULT_W-bit signed)   + 2: SHIFT[l] (6-bit signed e)
//   Other addresses are accepted and ignored. cfg_ready is high only while the
//   datapath is idle (no open dot product, nothing in flight, no output held),
//   so a reload between dot products never changes an in-flight result; while
//   idle a cfg beat has priority over an input beat in the same cycle (in_ready
//   is low in a cycle in which a cfg write is accepted). While not idle the
//   beat may be taken first: a host presents a beat together with a write only
//   when the beat may be taken before it (qmac's driver: only while idle).
//   A write takes effect for every beat accepted after it, the very next
//   cycle's included. Registers may be written in any order, any subset of
//   them, any number of times; the rest keep their values.
// Reset values: every parameter register is 0 (CTRL = double rounding, int8
//   activations, broadcast; ZP_X = ZP_W = ZP_OUT = 0; ACT_MIN = ACT_MAX = 0; BIAS, M0 and
//   SHIFT of every lane 0). A reset in the middle of traffic drops an open dot
//   product and every result in flight or held; the host re-sends them.
//
// Zero points are subtracted in the MAC ((x - zp_x)*(w - zp_w), 10-bit
// operands, a 10x10 multiplier per lane) rather than folded into the bias: the
// host then skips padded taps instead of computing a per-border-position bias,
// and a non-zero filter zero point stays exact without a data-dependent
// correction term.
//
// Throughput: one input beat per cycle indefinitely while out_ready is high
// (or no output is held). Any cycle with out_valid && !out_ready stalls the
// whole pipeline (in_ready low).
// Latency: LATENCY = 6 cycles. If a dot product's last beat transfers at
// rising edge k, its result is on out_* with out_valid high from edge k+6
// (when nothing stalls in between).
module qmac_top #(
    parameter integer LANES  = 8,
    parameter integer MULT_W = 32
) (
    input  wire                  clk,
    input  wire                  rst_n,
    // input stream
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire [8*LANES-1:0]    in_x,
    input  wire [8*LANES-1:0]    in_w,
    input  wire                  in_first,
    input  wire                  in_last,
    // output stream
    output reg                   out_valid,
    input  wire                  out_ready,
    output wire [8*LANES-1:0]    out_y,
    output wire [32*LANES-1:0]   out_acc,
    output wire [LANES-1:0]      out_ovf,
    // parameter load
    input  wire                  cfg_valid,
    output wire                  cfg_ready,
    input  wire [15:0]           cfg_addr,
    input  wire [31:0]           cfg_data
);
    // ---------------- parameters ----------------
    reg                 rnd_single, act_u8, x_lane;
    reg  signed [8:0]   zp_x, zp_w;
    reg  signed [9:0]   zp_out, act_min, act_max;
    reg  signed [31:0]  bias  [0:LANES-1];
    reg  signed [MULT_W-1:0] m0 [0:LANES-1];
    reg  signed [5:0]   shift [0:LANES-1];

    // ---------------- pipeline control ----------------
    reg        s0_valid, s1_valid, r1_valid, r2_valid, r3_valid, r4_valid;
    reg        open_dot;   // a dot product has started and not yet ended
    wire       adv  = !out_valid || out_ready;
    wire       idle = !(s0_valid || s1_valid || r1_valid || r2_valid || r3_valid
                        || r4_valid || out_valid || open_dot);
    assign cfg_ready = idle;
    wire       cfg_take = cfg_valid && idle;
    assign in_ready = adv && !cfg_take;
    wire       in_take  = in_valid && in_ready;

    // ---------------- S0: input register ----------------
    reg  [8*LANES-1:0] s0_x;
    reg  [8*LANES-1:0] s0_w;
    reg                s0_first, s0_last;
    always @(posedge clk) begin
        if (!rst_n) begin
            s0_valid <= 1'b0;
            open_dot <= 1'b0;
        end else if (adv) begin
            s0_valid <= in_take;
            if (in_take) open_dot <= !in_last;
        end
        if (adv && in_take) begin
            s0_x     <= in_x;
            s0_w     <= in_w;
            s0_first <= in_first;
            s0_last  <= in_last;
        end
    end

    // ---------------- valid bits of S1 .. R4 and the output ----------------
    always @(posedge clk) begin
        if (!rst_n) begin
            s1_valid  <= 1'b0;
            r1_valid  <= 1'b0;
            r2_valid  <= 1'b0;
            r3_valid  <= 1'b0;
            r4_valid  <= 1'b0;
            out_valid <= 1'b0;
        end else if (adv) begin
            s1_valid  <= s0_valid && s0_last;
            r1_valid  <= s1_valid;
            r2_valid  <= r1_valid;
            r3_valid  <= r2_valid;
            r4_valid  <= r3_valid;
            out_valid <= r4_valid;
        end
    end

    // ---------------- parameter registers ----------------
    integer l;
    always @(posedge clk) begin
        if (!rst_n) begin
            rnd_single <= 1'b0;
            act_u8     <= 1'b0;
            x_lane     <= 1'b0;
            zp_x       <= 9'sd0;
            zp_w       <= 9'sd0;
            zp_out     <= 10'sd0;
            act_min    <= 10'sd0;
            act_max    <= 10'sd0;
            for (l = 0; l < LANES; l = l + 1) begin
                bias[l]  <= 32'sd0;
                m0[l]    <= {MULT_W{1'b0}};
                shift[l] <= 6'sd0;
            end
        end else if (cfg_take) begin
            case (cfg_addr)
                16'h000: begin
                    rnd_single <= cfg_data[0];
                    act_u8     <= cfg_data[1];
                    x_lane     <= cfg_data[2];
                end
                16'h001: zp_x    <= cfg_data[8:0];
                16'h002: zp_w    <= cfg_data[8:0];
                16'h003: zp_out  <= cfg_data[9:0];
                16'h004: act_min <= cfg_data[9:0];
                16'h005: act_max <= cfg_data[9:0];
                default: begin
                    for (l = 0; l < LANES; l = l + 1) begin
                        if ({16'd0, cfg_addr} == 32'h100 + 4 * l) bias[l]  <= cfg_data;
                        if ({16'd0, cfg_addr} == 32'h101 + 4 * l) m0[l]    <= cfg_data[MULT_W-1:0];
                        if ({16'd0, cfg_addr} == 32'h102 + 4 * l) shift[l] <= cfg_data[5:0];
                    end
                end
            endcase
        end
    end

    // ---------------- lanes ----------------
    wire              mac_en = adv && s0_valid;
    // a requantization stage loads only when a valid result enters it
    wire [4:0]        ld     = {5{adv}} & {r4_valid, r3_valid, r2_valid, r1_valid, s1_valid};

    genvar g;
    generate
        for (g = 0; g < LANES; g = g + 1) begin : lane
            wire [7:0]  y;
            wire [31:0] acc;
            wire        ovf;
            // this lane's activation byte: its own (per-lane) or lane 0's (broadcast)
            wire [7:0]        xb    = x_lane ? s0_x[8*g +: 8] : s0_x[7:0];
            wire signed [8:0] x_ext = act_u8 ? {1'b0, xb} : {xb[7], xb};
            qmac_lane #(.MULT_W(MULT_W)) u_lane (
                .clk(clk), .mac_en(mac_en), .ld(ld), .first(s0_first),
                .x_ext(x_ext), .w(s0_w[8*g +: 8]),
                .zp_x(zp_x), .zp_w(zp_w), .bias(bias[g]), .m0(m0[g]), .shift(shift[g]),
                .rnd_single(rnd_single), .zp_out(zp_out), .act_min(act_min), .act_max(act_max),
                .y(y), .acc_out(acc), .ovf_out(ovf)
            );
            assign out_y[8*g +: 8]    = y;
            assign out_acc[32*g +: 32] = acc;
            assign out_ovf[g]          = ovf;
        end
    endgenerate
endmodule
