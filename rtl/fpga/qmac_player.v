// qmac_player: a synthesizable, self-checking player of a `qmac vectors`
// bundle. It holds the bundle in four ROMs (block RAM, $readmemh), runs its
// schedule through qmac_top and compares every output on chip. Plain
// Verilog-2005, no vendor primitives; the same file synthesizes with Yosys,
// Vivado and Quartus and simulates with Icarus and Verilator.
//
// Bundle files (the working directory's, or the paths given as parameters):
//   PROGRAM_FILE  N_PROG  words x 32 bits: bit 31 = 1 load N cfg words, 0 stream N beats
//   CFG_FILE      N_CFG   words x 48 bits: {addr[15:0], data[31:0]}
//   BEATS_FILE    N_BEATS words x (2 + 16*LANES): {first, last, in_x, in_w}
//   EXPECTED_FILE N_OUT   words x 41*LANES: {ovf, acc[L-1..0], y[L-1..0]}
// LANES and MULT_W must be the bundle's (manifest.toml [dut]); the N_* are its
// [counts] (an empty cfg.hex is padded to one word: set N_CFG = 1 and the
// schedule never reads it).
//
// Schedule: cycle for cycle the one of sim/replay_tb.sv, so the cycle count
// here equals the count scripts/replay prints for the same bundle, BP_PERCENT
// and SEED: FETCH a program word (one cycle), then present cfg writes
// (cfg_valid until cfg_ready takes each) or beats (in_valid, gated per cycle
// by the backpressure draw, until in_ready takes each), back to FETCH. The
// ROMs are read one edge ahead (their address is the pointer's next value),
// so their registered outputs are the current words with no extra cycle.
// out_ready is high except in cycles the output draw stalls it.
// Backpressure (BP_PERCENT > 0): replay_tb's xorshift32 draws, per cycle, an
// input gap and an output stall with probability BP_PERCENT %, seeded by SEED
// (qmac_pct).
//
// Checker: each output handshake is compared with the next expected word
// (y, acc and ovf of every lane). `mismatches` counts mismatching outputs
// (dot products, not lane results); the first one's index (0-based, in output
// order) and lane mask are kept. An output beyond N_OUT counts as a mismatch
// with lane mask all ones. After the program is done and N_OUT outputs have
// arrived, QUIET more cycles are watched for extra outputs, then `done`
// rises. A watchdog ends a run in which no handshake (cfg, input or output)
// happens for WATCHDOG cycles: done = 1, timeout = 1, pass = 0, so a broken
// DUT or bundle still gives a verdict.
//
// cycles: the edges from the schedule's start to `done` (the last output's
// edge plus QUIET); with QUIET = 16 this is replay_tb's `cycles`.
//
// Reset: rst_n is synchronous, active low. While low (and for the four
// cycles after it, which fill the backpressure pipeline) qmac_top is held in
// reset and every counter and flag here is cleared; releasing it starts the
// run again from the first program word, so a board's reset button re-runs
// the bundle. The ROM outputs and the draw pipeline have no reset (block RAM
// and plain registers); nothing depends on their value during reset.
module qmac_player #(
    parameter integer LANES         = 8,
    parameter integer MULT_W        = 32,
    parameter integer N_PROG        = 1,
    parameter integer N_CFG         = 1,
    parameter integer N_BEATS       = 1,
    parameter integer N_OUT         = 1,
    parameter         PROGRAM_FILE  = "program.hex",
    parameter         CFG_FILE      = "cfg.hex",
    parameter         BEATS_FILE    = "beats.hex",
    parameter         EXPECTED_FILE = "expected.hex",
    parameter integer BP_PERCENT    = 0,         // 0..99
    parameter integer SEED          = 1,
    parameter integer QUIET         = 16,        // 1..255
    parameter integer WATCHDOG      = 65536      // 2..2^24
) (
    input  wire             clk,
    input  wire             rst_n,
    output reg              done,
    output reg              pass,
    output reg              timeout,
    output reg  [31:0]      mismatches,
    output reg              have_first,   // a mismatch was seen
    output reg  [31:0]      first_index,
    output reg  [LANES-1:0] first_lanes,
    output reg  [31:0]      cycles,
    output wire [31:0]      beats_sent,
    output wire [31:0]      outputs_seen,
    output wire [31:0]      cfg_sent
);
    localparam integer BW = 2 + 16 * LANES;
    localparam integer EW = 41 * LANES;
    localparam integer AP = (N_PROG  > 1) ? $clog2(N_PROG)  : 1;
    localparam integer AC = (N_CFG   > 1) ? $clog2(N_CFG)   : 1;
    localparam integer AB = (N_BEATS > 1) ? $clog2(N_BEATS) : 1;
    localparam integer AE = (N_OUT   > 1) ? $clog2(N_OUT)   : 1;
    localparam [31:0]  LAST_P = N_PROG - 1;
    localparam [31:0]  LAST_C = N_CFG - 1;
    localparam [31:0]  LAST_B = N_BEATS - 1;
    localparam [31:0]  LAST_E = N_OUT - 1;
    localparam [31:0]  NPROG  = N_PROG;
    localparam [31:0]  NOUT   = N_OUT;
    localparam [31:0]  QUIET_W = QUIET;
    localparam [31:0]  WD_W    = WATCHDOG - 1;
    localparam [7:0]   QUIET_V = QUIET_W[7:0];
    localparam [23:0]  WD_V    = WD_W[23:0];
    localparam [1:0]   S_FETCH = 2'd0, S_CFG = 2'd1, S_BEAT = 2'd2, S_DONE = 2'd3;

    // ---------------- start: rst_n delayed by the draw pipeline's 4 stages ----------------
    reg  [3:0] start_sr;
    wire       run = start_sr[3];
    always @(posedge clk) start_sr <= rst_n ? {start_sr[2:0], 1'b1} : 4'd0;

    // ---------------- backpressure draws ----------------
    wire gap_in, stall_out;
    generate
        if (BP_PERCENT > 0) begin : bp
            qmac_pct #(.PCT(BP_PERCENT), .SEED(SEED), .MUL(32'd2654435761), .ADD(32'd1))
                u_in (.clk(clk), .rst_n(rst_n), .hit(gap_in));
            qmac_pct #(.PCT(BP_PERCENT), .SEED(SEED), .MUL(32'd40503), .ADD(32'd7))
                u_out (.clk(clk), .rst_n(rst_n), .hit(stall_out));
        end else begin : no_bp
            assign gap_in    = 1'b0;
            assign stall_out = 1'b0;
        end
    endgenerate

    // ---------------- DUT ----------------
    reg                 in_valid, cfg_valid, out_ready;
    wire                in_ready, cfg_ready, out_valid;
    wire [BW-1:0]       beat_q;
    wire [47:0]         cfg_q;
    wire [31:0]         prog_q;
    wire [EW-1:0]       exp_q;
    wire [8*LANES-1:0]  out_y;
    wire [32*LANES-1:0] out_acc;
    wire [LANES-1:0]    out_ovf;

    qmac_top #(.LANES(LANES), .MULT_W(MULT_W)) u_dut (
        .clk(clk), .rst_n(run),
        .in_valid(in_valid), .in_ready(in_ready),
        .in_x(beat_q[16*LANES-1:8*LANES]), .in_w(beat_q[8*LANES-1:0]),
        .in_first(beat_q[BW-1]), .in_last(beat_q[BW-2]),
        .out_valid(out_valid), .out_ready(out_ready),
        .out_y(out_y), .out_acc(out_acc), .out_ovf(out_ovf),
        .cfg_valid(cfg_valid), .cfg_ready(cfg_ready),
        .cfg_addr(cfg_q[47:32]), .cfg_data(cfg_q[31:0])
    );

    wire cfg_fire = cfg_valid && cfg_ready;
    wire in_fire  = in_valid && in_ready;
    wire out_fire = out_valid && out_ready;

    // ---------------- schedule ----------------
    reg  [1:0]  state;
    reg  [31:0] pc, ci, bi, oi;
    reg  [30:0] left;
    wire        fetch  = state == S_FETCH && pc != NPROG;
    wire        count  = run && !done;   // the counters freeze when done
    wire [31:0] pc_n   = !run ? 32'd0 : pc + {31'd0, count && fetch};
    wire [31:0] ci_n   = !run ? 32'd0 : ci + {31'd0, count && cfg_fire};
    wire [31:0] bi_n   = !run ? 32'd0 : bi + {31'd0, count && in_fire};
    wire [31:0] oi_n   = !run ? 32'd0 : oi + {31'd0, count && out_fire};
    // ROM addresses: the next pointer, clamped to the last word
    wire [AP-1:0] pa = (pc_n > LAST_P) ? LAST_P[AP-1:0] : pc_n[AP-1:0];
    wire [AC-1:0] ca = (ci_n > LAST_C) ? LAST_C[AC-1:0] : ci_n[AC-1:0];
    wire [AB-1:0] ba = (bi_n > LAST_B) ? LAST_B[AB-1:0] : bi_n[AB-1:0];
    wire [AE-1:0] ea = (oi_n > LAST_E) ? LAST_E[AE-1:0] : oi_n[AE-1:0];

    qmac_rom #(.WIDTH(32), .DEPTH(N_PROG),  .AW(AP), .FILE(PROGRAM_FILE))
        u_prog (.clk(clk), .addr(pa), .q(prog_q));
    qmac_rom #(.WIDTH(48), .DEPTH(N_CFG),   .AW(AC), .FILE(CFG_FILE))
        u_cfg  (.clk(clk), .addr(ca), .q(cfg_q));
    qmac_rom #(.WIDTH(BW), .DEPTH(N_BEATS), .AW(AB), .FILE(BEATS_FILE))
        u_beat (.clk(clk), .addr(ba), .q(beat_q));
    qmac_rom #(.WIDTH(EW), .DEPTH(N_OUT),   .AW(AE), .FILE(EXPECTED_FILE))
        u_exp  (.clk(clk), .addr(ea), .q(exp_q));

    always @(posedge clk) begin
        pc <= pc_n;
        ci <= ci_n;
        bi <= bi_n;
        oi <= oi_n;
        if (!run || done) begin
            left      <= 31'd0;
            in_valid  <= 1'b0;
            cfg_valid <= 1'b0;
            out_ready <= 1'b0;
            state     <= run ? S_DONE : S_FETCH;
        end else begin
            out_ready <= !stall_out;
            case (state)
                S_FETCH: begin
                    if (pc == NPROG) begin
                        state <= S_DONE;
                    end else begin
                        left <= prog_q[30:0];
                        if (prog_q[31]) begin
                            state     <= S_CFG;
                            cfg_valid <= 1'b1;
                        end else begin
                            state    <= S_BEAT;
                            in_valid <= !gap_in;
                        end
                    end
                end
                S_CFG: begin
                    if (cfg_fire) begin
                        left <= left - 31'd1;
                        if (left == 31'd1) begin
                            cfg_valid <= 1'b0;
                            state     <= S_FETCH;
                        end
                    end
                end
                S_BEAT: begin
                    if (in_fire) begin
                        left <= left - 31'd1;
                        if (left == 31'd1) begin
                            in_valid <= 1'b0;
                            state    <= S_FETCH;
                        end else if (gap_in) begin
                            in_valid <= 1'b0;
                        end
                    end else if (!in_valid && !gap_in) begin
                        in_valid <= 1'b1;
                    end
                end
                default: ;
            endcase
        end
    end

    // ---------------- checker ----------------
    reg [LANES-1:0] lane_bad;
    integer l;
    always @(*) begin
        for (l = 0; l < LANES; l = l + 1)
            lane_bad[l] = out_y[8*l +: 8] != exp_q[8*l +: 8]
                       || out_acc[32*l +: 32] != exp_q[8*LANES + 32*l +: 32]
                       || out_ovf[l] != exp_q[40*LANES + l];
    end
    wire            extra   = oi >= NOUT;
    wire [LANES-1:0] bad    = extra ? {LANES{1'b1}} : lane_bad;

    reg  [7:0]  quiet;
    reg  [23:0] stuck;
    wire        finished = state == S_DONE && oi >= NOUT;
    always @(posedge clk) begin
        if (!run) begin
            done         <= 1'b0;
            pass         <= 1'b0;
            timeout      <= 1'b0;
            mismatches   <= 32'd0;
            have_first   <= 1'b0;
            first_index  <= 32'd0;
            first_lanes  <= {LANES{1'b0}};
            cycles       <= 32'd0;
            quiet        <= 8'd0;
            stuck        <= 24'd0;
        end else if (!done) begin
            cycles <= cycles + 32'd1;
            if (out_fire && bad != {LANES{1'b0}}) begin
                mismatches <= mismatches + 32'd1;
                if (!have_first) begin
                    have_first  <= 1'b1;
                    first_index <= oi;
                    first_lanes <= bad;
                end
            end
            stuck <= (cfg_fire || in_fire || out_fire) ? 24'd0 : stuck + 24'd1;
            if (finished) quiet <= quiet + 8'd1;
            if (finished && quiet == QUIET_V - 8'd1) begin
                done <= 1'b1;
                pass <= mismatches == 32'd0 && !(out_fire && bad != {LANES{1'b0}})
                        && oi + {31'd0, out_fire} == NOUT;
            end else if (stuck == WD_V) begin
                done    <= 1'b1;
                timeout <= 1'b1;
            end
        end
    end

    assign beats_sent   = bi;
    assign outputs_seen = oi;
    assign cfg_sent     = ci;
endmodule
