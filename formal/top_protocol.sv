// Formal harness: qmac_top's handshake, register map, reset, MAC and
// pipeline, against a shadow model written from the interface contract in
// qmac_top.v's header (never from its implementation).
//
// Every input of qmac_top is free in every cycle (the harness's own inputs),
// except for what a conforming host guarantees (the `assume`s): reset in the
// first cycle, a well-formed stream (in_first exactly on the first beat of a
// dot product) and AXI-Stream stability (valid and data held until taken).
// Reset may be asserted again at any time.
//
// The shadow model keeps the parameter registers (decoded from the full
// 16-bit address), the open dot product's exact accumulators, and a queue
// of the results owed to the consumer. It asserts:
//   * in_ready / cfg_ready exactly as the contract states them;
//   * no output without a dot product owed; each output's accumulators and
//     overflow flags are the oldest owed result's (in order, none lost, none
//     duplicated); and with M0 = 0 for a lane, its y is clamp(zp_out) (the
//     reset values, the zero point and the bounds reach y; the arithmetic of
//     y itself is lane_requant's);
//   * out_valid and out_* stable while out_valid && !out_ready;
//   * a result exactly LATENCY = 6 cycles after its last beat when out_ready
//     was high in between, and never more than 7 results in flight.
//
// DRIVER_DOMAIN restricts the host to what a qmac transaction can express
// (only register-map addresses, values in range, writes only while idle):
// the basis for turning a counterexample into a replayable transaction
// (not yet wired into qmac prove; the harness proves with it too, depth 8).
module top_protocol #(
    parameter integer LANES  = 2,
    parameter integer MULT_W = 8
) (
    input wire                  clk,
    input wire                  rst_n,
    input wire                  in_valid,
    input wire [8*LANES-1:0]    in_x,
    input wire [8*LANES-1:0]    in_w,
    input wire                  in_first,
    input wire                  in_last,
    input wire                  out_ready,
    input wire                  cfg_valid,
    input wire [15:0]           cfg_addr,
    input wire [31:0]           cfg_data
);
    wire                  in_ready, cfg_ready, out_valid;
    wire [8*LANES-1:0]    out_y;
    wire [32*LANES-1:0]   out_acc;
    wire [LANES-1:0]      out_ovf;
    qmac_top #(.LANES(LANES), .MULT_W(MULT_W)) dut (
        .clk(clk), .rst_n(rst_n),
        .in_valid(in_valid), .in_ready(in_ready), .in_x(in_x), .in_w(in_w),
        .in_first(in_first), .in_last(in_last),
        .out_valid(out_valid), .out_ready(out_ready), .out_y(out_y), .out_acc(out_acc),
        .out_ovf(out_ovf),
        .cfg_valid(cfg_valid), .cfg_ready(cfg_ready), .cfg_addr(cfg_addr), .cfg_data(cfg_data));

    // ---------------- time ----------------
    reg        init = 1'b1;        // the first cycle
    reg [4:0]  t = 5'd0;
    always @(posedge clk) begin
        init <= 1'b0;
        if (t != 5'd31) t <= t + 5'd1;
    end
    reg        past_valid = 1'b0;  // a previous cycle exists (for $past)
    always @(posedge clk) past_valid <= 1'b1;

    // ---------------- the host's guarantees ----------------
    wire in_take  = in_valid && in_ready;
    wire cfg_take = cfg_valid && cfg_ready;
    wire out_take = out_valid && out_ready;
    reg  h_open;                   // a dot product has started and not ended
    reg  [3:0] owed;               // results owed to the consumer
    wire h_idle = !h_open && owed == 4'd0;
    always @* begin
        if (init) assume (!rst_n);
        if (in_valid) assume (in_first == !h_open);
    end
    // Weights 0 or 1 and ZP_W = 0: an accumulator is bias + a sum of
    // (x - zp_x), which keeps the unrolled sums within a SAT solver's reach.
    // The MAC's products for every w and zp_w are lane_mac's proof.
    integer k;
    always @* begin
        for (k = 0; k < LANES; k = k + 1) assume (in_w[8*k +: 8] <= 8'd1);
        if (cfg_valid && cfg_addr == 16'h002) assume (cfg_data[8:0] == 9'd0);
    end
    always @(posedge clk) if (past_valid && $past(rst_n) && rst_n) begin
        if ($past(in_valid && !in_ready))
            assume (in_valid && in_x == $past(in_x) && in_w == $past(in_w)
                    && in_first == $past(in_first) && in_last == $past(in_last));
    end
`ifdef DRIVER_DOMAIN
    // qmac's driver: a register write only while nothing is open or owed and
    // no beat is offered, to a register-map address, with an in-range value.
    reg addr_ok;
    integer a;
    always @* begin
        addr_ok = cfg_addr <= 16'h005;
        for (a = 0; a < LANES; a = a + 1)
            if (cfg_addr == 16'h100 + 4 * a || cfg_addr == 16'h101 + 4 * a || cfg_addr == 16'h102 + 4 * a)
                addr_ok = 1'b1;
    end
    always @* if (cfg_valid) begin
        assume (h_idle && !in_valid && addr_ok);
        if (cfg_addr == 16'h000) assume (cfg_data[31:3] == 0);
        if (cfg_addr == 16'h001) assume ($signed(cfg_data) >= -128 && $signed(cfg_data) <= 255);
        if (cfg_addr == 16'h002) assume ($signed(cfg_data) >= -128 && $signed(cfg_data) <= 127);
        if (cfg_addr == 16'h003) assume ($signed(cfg_data) >= -256 && $signed(cfg_data) <= 255);
        if (cfg_addr == 16'h004 || cfg_addr == 16'h005) assume ($signed(cfg_data) >= -128 && $signed(cfg_data) <= 255);
        if (cfg_addr >= 16'h100 && cfg_addr[1:0] == 2'd1)
            assume ($signed(cfg_data) >= -(64'sd1 <<< (MULT_W - 1)) && $signed(cfg_data) < (64'sd1 <<< (MULT_W - 1)));
        if (cfg_addr >= 16'h100 && cfg_addr[1:0] == 2'd2) assume ($signed(cfg_data) >= -31 && $signed(cfg_data) <= 30);
    end
    // A dot product runs under ordered bounds and a zero point of its input type.
    always @* if (in_valid) begin
        assume (h_min <= h_max);
        assume (h_u8 ? (h_zp_x >= 0) : (h_zp_x <= 127));
    end
`endif

    // ---------------- the shadow register map (qmac_top.v's header) ----------------
    reg               h_single, h_u8, h_xl;
    reg signed [8:0]  h_zp_x, h_zp_w;
    reg signed [9:0]  h_zp_out, h_min, h_max;
    reg signed [31:0] h_bias  [0:LANES-1];
    reg signed [MULT_W-1:0] h_m0 [0:LANES-1];
    reg signed [5:0]  h_shift [0:LANES-1];
    integer l;
    always @(posedge clk) begin
        if (!rst_n) begin
            {h_single, h_u8, h_xl} <= 3'b000;
            h_zp_x <= 0; h_zp_w <= 0; h_zp_out <= 0; h_min <= 0; h_max <= 0;
            for (l = 0; l < LANES; l = l + 1) begin
                h_bias[l] <= 0; h_m0[l] <= 0; h_shift[l] <= 0;
            end
        end else if (cfg_take) begin
            if (cfg_addr == 16'h000) {h_xl, h_u8, h_single} <= cfg_data[2:0];
            if (cfg_addr == 16'h001) h_zp_x   <= cfg_data[8:0];
            if (cfg_addr == 16'h002) h_zp_w   <= cfg_data[8:0];
            if (cfg_addr == 16'h003) h_zp_out <= cfg_data[9:0];
            if (cfg_addr == 16'h004) h_min    <= cfg_data[9:0];
            if (cfg_addr == 16'h005) h_max    <= cfg_data[9:0];
            for (l = 0; l < LANES; l = l + 1) begin
                if (cfg_addr == 16'h100 + 4 * l) h_bias[l]  <= cfg_data;
                if (cfg_addr == 16'h101 + 4 * l) h_m0[l]    <= cfg_data[MULT_W-1:0];
                if (cfg_addr == 16'h102 + 4 * l) h_shift[l] <= cfg_data[5:0];
            end
        end
    end

    // ---------------- the shadow MAC: exact, then wrapped ----------------
    // acc = bias + sum (x - zp_x)(w - zp_w) mod 2^32; ovf: some partial sum
    // (bias + p1, + p2, ...) left the int32 range.
    reg signed [31:0] h_acc [0:LANES-1];
    reg               h_ovf [0:LANES-1];
    reg signed [31:0] nacc  [0:LANES-1];
    reg               novf  [0:LANES-1];
    reg        [7:0]  xb;
    reg signed [9:0]  xv, wv, dx, dw;
    reg signed [19:0] prod;
    reg signed [31:0] start;
    reg signed [33:0] sum;
    always @* begin
        for (l = 0; l < LANES; l = l + 1) begin
            // lane l's activation: its own byte (CTRL.xl) or byte 0, int8 or uint8 (CTRL.u8)
            xb = h_xl ? in_x[8*l +: 8] : in_x[7:0];
            xv = h_u8 ? {2'b00, xb} : {{2{xb[7]}}, xb};
            wv = {{2{in_w[8*l+7]}}, in_w[8*l +: 8]};
            dx = xv - h_zp_x;
            dw = wv - h_zp_w;
            prod = dx * dw;
            start = in_first ? h_bias[l] : h_acc[l];
            sum = start + prod;                       // exact in 34 bits
            nacc[l] = sum[31:0];
            novf[l] = (in_first ? 1'b0 : h_ovf[l]) || sum < -(34'sd1 <<< 31) || sum >= (34'sd1 <<< 31);
        end
    end

    // ---------------- results owed, in order ----------------
    localparam integer DEPTH = 8;
    reg [32*LANES-1:0] q_acc [0:DEPTH-1];
    reg [LANES-1:0]    q_ovf [0:DEPTH-1];
    reg [8*LANES-1:0]  q_y   [0:DEPTH-1];   // y when the lane's M0 is 0
    reg [LANES-1:0]    q_yk  [0:DEPTH-1];   // which lanes' y is known
    reg [4:0]          q_time[0:DEPTH-1];   // the cycle of its last beat
    reg [2:0]          q_rd, q_wr;
    wire               push = in_take && in_last;
    reg  [32*LANES-1:0] p_acc;
    reg  [LANES-1:0]    p_ovf, p_yk;
    reg  [8*LANES-1:0]  p_y;
    reg  signed [9:0]   clamped;
    always @* begin
        // clamp(zp_out, act_min, act_max): a lane with M0 = 0 has r = 0
        clamped = (h_zp_out < h_min) ? h_min : ((h_zp_out > h_max) ? h_max : h_zp_out);
        for (l = 0; l < LANES; l = l + 1) begin
            p_acc[32*l +: 32] = nacc[l];
            p_ovf[l]          = novf[l];
            p_yk[l]           = h_m0[l] == 0 && h_min <= h_max;
            p_y[8*l +: 8]     = clamped[7:0];
        end
    end
    always @(posedge clk) begin
        if (!rst_n) begin
            h_open <= 1'b0;
            owed   <= 4'd0;
            q_rd   <= 3'd0;
            q_wr   <= 3'd0;
        end else begin
            if (in_take) begin
                h_open <= !in_last;
                for (l = 0; l < LANES; l = l + 1) begin
                    h_acc[l] <= nacc[l];
                    h_ovf[l] <= novf[l];
                end
            end
            if (push) begin
                q_acc[q_wr] <= p_acc;
                q_ovf[q_wr] <= p_ovf;
                q_y[q_wr]   <= p_y;
                q_yk[q_wr]  <= p_yk;
                q_time[q_wr] <= t;
                q_wr        <= q_wr + 3'd1;
            end
            if (out_take) q_rd <= q_rd + 3'd1;
            owed <= owed + {3'd0, push} - {3'd0, out_take};
        end
    end

    // ---------------- the contract ----------------
    reg [LANES-1:0] y_ok;
    always @* begin
        for (l = 0; l < LANES; l = l + 1)
            y_ok[l] = !q_yk[q_rd][l] || out_y[8*l +: 8] == q_y[q_rd][8*l +: 8];
    end
    always @* if (!init && rst_n) begin
        // handshake
        assert (in_ready == ((!out_valid || out_ready) && !cfg_take));
        assert (cfg_ready == h_idle);
        // no output without a result owed; the oldest one, exactly
        if (out_valid) begin
            assert (owed != 4'd0);
            assert (out_acc == q_acc[q_rd]);
            assert (out_ovf == q_ovf[q_rd]);
            assert (&y_ok);
        end
        // never more results in flight than pipeline stages
        assert (owed <= 4'd7);
    end

    // stable while stalled
    always @(posedge clk) if (past_valid && !init && rst_n && $past(rst_n)) begin
        if ($past(out_valid && !out_ready)) begin
            assert (out_valid);
            assert (out_y == $past(out_y));
            assert (out_acc == $past(out_acc));
            assert (out_ovf == $past(out_ovf));
        end
    end

    // latency: a beat offered in cycle j transfers at the clock edge ending
    // cycle j (edge k); its result is on out_* from edge k + 6 = LATENCY,
    // i.e. in cycle j + 7, when the pipeline advanced at each of those 6
    // edges (cycles j+1 .. j+6), and never earlier.
    reg [6:0] last_hist;
    reg [5:0] adv_hist, rst_hist;
    always @(posedge clk) begin
        last_hist <= {last_hist[5:0], push && rst_n};
        adv_hist  <= {adv_hist[4:0], out_ready || !out_valid};
        rst_hist  <= {rst_hist[4:0], rst_n};
    end
    always @* if (t >= 5'd8 && rst_n && &rst_hist && &adv_hist && last_hist[6])
        assert (out_valid);
    always @* if (!init && rst_n && out_valid && t != 5'd31)
        assert (t - q_time[q_rd] >= 5'd7);
endmodule
