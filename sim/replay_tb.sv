// qmac_replay_tb: self-checking replay of a qmac vector bundle on qmac_top.
//
// Plain Verilog-2005 (plus $fatal), no simulator-specific code: it runs
// unchanged under Icarus (iverilog -g2012), Verilator (--binary --timing),
// Vivado xsim and Questa. Run it with the bundle directory as the working
// directory (the $readmemh files are opened by name) and the parameters taken
// from the bundle's manifest.toml (scripts/replay does both):
//   LANES, MULT_W          [dut] lanes, mult_w
//   N_PROG, N_CFG, N_BEATS, N_OUT   [counts] program_segments, cfg_writes, beats, outputs
//   BP_PERCENT             0..99: probability (%) of an input gap / output stall per cycle
//   SEED                   seed of the backpressure LFSR
// It drives the program (cfg loads and input beats with valid/ready), checks
// every output beat against expected.hex (value, accumulator and overflow
// flag of every lane, in order), then prints `PASS <n> beats` and calls
// $finish, or prints the first mismatches and calls $fatal.
`timescale 1ns / 1ps
module qmac_replay_tb #(
    parameter integer LANES      = 8,
    parameter integer MULT_W     = 32,
    parameter integer N_PROG     = 1,
    parameter integer N_CFG      = 1,
    parameter integer N_BEATS    = 1,
    parameter integer N_OUT      = 1,
    parameter integer BP_PERCENT = 0,
    parameter integer SEED       = 1,
    parameter integer MAX_REPORT = 10
);
    localparam integer BW = 2 + 16 * LANES;   // beat word: first, last, in_x, in_w
    localparam integer EW = 41 * LANES;       // expected word
    localparam integer TIMEOUT = 1000 + 64 * (N_BEATS + 16 * N_CFG + 64 * N_OUT);

    reg [31:0]   prog_mem  [0:N_PROG-1];
    reg [47:0]   cfg_mem   [0:N_CFG-1];
    reg [BW-1:0] beat_mem  [0:N_BEATS-1];
    reg [EW-1:0] exp_mem   [0:N_OUT-1];

    reg clk = 1'b0;
    reg rst_n = 1'b0;
    always #5 clk = ~clk;

    // DUT ports
    reg                  in_valid = 1'b0, in_first = 1'b0, in_last = 1'b0;
    reg  [8*LANES-1:0]   in_x = {8*LANES{1'b0}};
    reg  [8*LANES-1:0]   in_w = {8*LANES{1'b0}};
    wire                 in_ready;
    wire                 out_valid;
    reg                  out_ready = 1'b0;
    wire [8*LANES-1:0]   out_y;
    wire [32*LANES-1:0]  out_acc;
    wire [LANES-1:0]     out_ovf;
    reg                  cfg_valid = 1'b0;
    wire                 cfg_ready;
    reg  [15:0]          cfg_addr = 16'd0;
    reg  [31:0]          cfg_data = 32'd0;

    qmac_top #(.LANES(LANES), .MULT_W(MULT_W)) dut (
        .clk(clk), .rst_n(rst_n),
        .in_valid(in_valid), .in_ready(in_ready), .in_x(in_x), .in_w(in_w),
        .in_first(in_first), .in_last(in_last),
        .out_valid(out_valid), .out_ready(out_ready), .out_y(out_y), .out_acc(out_acc), .out_ovf(out_ovf),
        .cfg_valid(cfg_valid), .cfg_ready(cfg_ready), .cfg_addr(cfg_addr), .cfg_data(cfg_data)
    );

    // Backpressure: xorshift32, a draw per cycle for each side.
    reg [31:0] rnd_in, rnd_out;
    function [31:0] xorshift(input [31:0] v);
        reg [31:0] t;
        begin
            t = v ^ (v << 13);
            t = t ^ (t >> 17);
            xorshift = t ^ (t << 5);
        end
    endfunction
    wire gap_in    = (rnd_in  % 100) < BP_PERCENT;
    wire stall_out = (rnd_out % 100) < BP_PERCENT;

    // Driver: FETCH a program word, then CFG or BEAT words until its count is used.
    localparam [1:0] S_FETCH = 2'd0, S_CFG = 2'd1, S_BEAT = 2'd2, S_DONE = 2'd3;
    reg [1:0]  state = S_FETCH;
    integer    pc = 0, ci = 0, bi = 0, left = 0;
    wire       cfg_fire = cfg_valid && cfg_ready;
    wire       in_fire  = in_valid && in_ready;

    task present_beat(input integer i);
        begin
            in_valid <= 1'b1;
            in_first <= beat_mem[i][BW-1];
            in_last  <= beat_mem[i][BW-2];
            in_x     <= beat_mem[i][16*LANES-1:8*LANES];
            in_w     <= beat_mem[i][8*LANES-1:0];
        end
    endtask

    always @(posedge clk) begin
        if (!rst_n) begin
            rnd_in  <= SEED * 32'd2654435761 + 32'd1;
            rnd_out <= SEED * 32'd40503 + 32'd7;
        end else begin
            rnd_in  <= xorshift(rnd_in);
            rnd_out <= xorshift(rnd_out);
            out_ready <= !stall_out;
            case (state)
                S_FETCH: begin
                    if (pc == N_PROG) begin
                        state <= S_DONE;
                    end else begin
                        left <= prog_mem[pc][30:0];
                        pc   <= pc + 1;
                        if (prog_mem[pc][31]) begin
                            state     <= S_CFG;
                            cfg_valid <= 1'b1;
                            cfg_addr  <= cfg_mem[ci][47:32];
                            cfg_data  <= cfg_mem[ci][31:0];
                        end else begin
                            state <= S_BEAT;
                            if (!gap_in) present_beat(bi);
                        end
                    end
                end
                S_CFG: begin
                    if (cfg_fire) begin
                        ci   <= ci + 1;
                        left <= left - 1;
                        if (left == 1) begin
                            cfg_valid <= 1'b0;
                            state     <= S_FETCH;
                        end else begin
                            cfg_addr <= cfg_mem[ci + 1][47:32];
                            cfg_data <= cfg_mem[ci + 1][31:0];
                        end
                    end
                end
                S_BEAT: begin
                    if (in_fire) begin
                        bi   <= bi + 1;
                        left <= left - 1;
                        if (left == 1) begin
                            in_valid <= 1'b0;
                            state    <= S_FETCH;
                        end else if (gap_in) begin
                            in_valid <= 1'b0;
                        end else begin
                            present_beat(bi + 1);
                        end
                    end else if (!in_valid && !gap_in) begin
                        present_beat(bi);
                    end
                end
                default: ;
            endcase
        end
    end

    // Monitor / scoreboard.
    integer oi = 0, errors = 0, l, cycles = 0, extra = 0;
    reg [EW-1:0] e;
    always @(posedge clk) begin
        if (rst_n) begin
            cycles <= cycles + 1;
            if (out_valid && out_ready) begin
                if (oi >= N_OUT) begin
                    extra = extra + 1;
                    if (errors < MAX_REPORT) $display("MISMATCH beat %0d: output without a pending dot product", oi);
                    errors = errors + 1;
                end else begin
                    e = exp_mem[oi];
                    for (l = 0; l < LANES; l = l + 1) begin
                        if (out_y[8*l +: 8] !== e[8*l +: 8] || out_acc[32*l +: 32] !== e[8*LANES + 32*l +: 32]
                            || out_ovf[l] !== e[40*LANES + l]) begin
                            if (errors < MAX_REPORT)
                                $display("MISMATCH beat %0d lane %0d: expected y=%0d acc=%0d ovf=%0d, got y=%0d acc=%0d ovf=%0d",
                                         oi, l, $signed(e[8*l +: 8]), $signed(e[8*LANES + 32*l +: 32]), e[40*LANES + l],
                                         $signed(out_y[8*l +: 8]), $signed(out_acc[32*l +: 32]), out_ovf[l]);
                            errors = errors + 1;
                        end
                    end
                end
                oi = oi + 1;
            end
        end
    end

    initial begin
        $readmemh("program.hex", prog_mem, 0, N_PROG - 1);
        $readmemh("cfg.hex", cfg_mem, 0, N_CFG - 1);
        $readmemh("beats.hex", beat_mem, 0, N_BEATS - 1);
        $readmemh("expected.hex", exp_mem, 0, N_OUT - 1);
        repeat (4) @(posedge clk);
        rst_n <= 1'b1;
        // Sample after each edge has settled (#1): at the edge itself the
        // monitor's `oi` may or may not be updated yet (process order), which
        // made the count differ by one between simulators under backpressure.
        // cycles = the edges through the last output's, plus 16.
        while (!(state == S_DONE && oi >= N_OUT) && cycles < TIMEOUT) begin
            @(posedge clk);
            #1;
        end
        repeat (16) @(posedge clk);   // nothing more may come out
        #1;
        if (cycles >= TIMEOUT) begin
            $display("FAIL: timeout after %0d cycles, %0d of %0d outputs received", cycles, oi, N_OUT);
            $fatal(1, "qmac replay: timeout");
        end
        if (errors != 0 || oi != N_OUT) begin
            $display("FAIL: %0d mismatching lane results, %0d outputs received of %0d", errors, oi, N_OUT);
            $fatal(1, "qmac replay: FAIL");
        end
        $display("PASS %0d beats (%0d outputs, %0d cfg writes, %0d cycles)", N_BEATS, N_OUT, N_CFG, cycles);
        $finish;
    end
endmodule
