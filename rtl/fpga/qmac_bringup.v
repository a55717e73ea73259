// qmac_bringup: the board-independent top of an FPGA bring-up run: a
// power-on / button reset, qmac_player (bundle ROMs + qmac_top + checker) and
// qmac_report (the verdict line on a UART). Board tops (rtl/fpga/boards/)
// only map pins and set CLK_HZ.
//
// Reset: `btn` (active high, synchronised here) restarts the run from the
// first program word. At power-up a 16-cycle counter holds everything in
// reset; it relies on configuration clearing every flip-flop (ECP5, iCE40,
// Xilinx and Intel devices all do) — there is no initial block. In simulation
// drive btn high for a few cycles first (sim/player_tb.sv does).
//
// LEDs (active high here; board tops invert where the board's are active low):
//   led[0] done   led[1] pass (done, nothing mismatched)   led[2] fail (done, not pass)
//   led[3] timeout (watchdog: no handshake for WATCHDOG cycles)
//   led[4] heartbeat (blinks while running, about 3 Hz at 25 MHz)
//   led[7:5] mismatches[2:0]
module qmac_bringup #(
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
    parameter integer BP_PERCENT    = 0,
    parameter integer SEED          = 1,
    parameter integer WATCHDOG      = 65536,
    parameter integer CLK_HZ        = 25000000,
    parameter integer BAUD          = 115200,
    parameter integer REPEAT        = CLK_HZ      // verdict line once a second; 0 = once
) (
    input  wire             clk,
    input  wire             btn,
    output wire [7:0]       led,
    output wire             uart_tx
);
    localparam integer DIV = (CLK_HZ + BAUD / 2) / BAUD;

    // ---------------- reset ----------------
    reg  [1:0] btn_sync;
    reg  [4:0] por;        // counts to 16 after power-up or a button release
    reg        rst_n;
    always @(posedge clk) begin
        btn_sync <= {btn_sync[0], btn};
        if (btn_sync[1])       por <= 5'd0;
        else if (!por[4])      por <= por + 5'd1;
        rst_n <= por[4];
    end

    // the player's registers (sim/player_tb.sv reads them as u_player.*)
    wire             done, pass, timeout, have_first;
    wire [31:0]      mismatches, first_index, cycles, beats, outputs, cfg;
    wire [LANES-1:0] first_lanes;
    qmac_player #(
        .LANES(LANES), .MULT_W(MULT_W),
        .N_PROG(N_PROG), .N_CFG(N_CFG), .N_BEATS(N_BEATS), .N_OUT(N_OUT),
        .PROGRAM_FILE(PROGRAM_FILE), .CFG_FILE(CFG_FILE),
        .BEATS_FILE(BEATS_FILE), .EXPECTED_FILE(EXPECTED_FILE),
        .BP_PERCENT(BP_PERCENT), .SEED(SEED), .QUIET(16), .WATCHDOG(WATCHDOG)
    ) u_player (
        .clk(clk), .rst_n(rst_n),
        .done(done), .pass(pass), .timeout(timeout), .mismatches(mismatches),
        .have_first(have_first), .first_index(first_index), .first_lanes(first_lanes),
        .cycles(cycles), .beats_sent(beats), .outputs_seen(outputs), .cfg_sent(cfg)
    );

    qmac_report #(.LANES(LANES), .DIV(DIV), .REPEAT(REPEAT)) u_report (
        .clk(clk), .rst_n(rst_n),
        .done(done), .pass(pass), .timeout(timeout),
        .beats(beats), .outputs(outputs), .cfg(cfg), .cycles(cycles),
        .mismatches(mismatches), .have_first(have_first),
        .first_index(first_index), .first_lanes(first_lanes),
        .tx(uart_tx)
    );

    // heartbeat: bit 22 of a free-running counter
    reg [22:0] beat_cnt;
    always @(posedge clk) beat_cnt <= beat_cnt + 23'd1;

    assign led = {mismatches[2:0], !done && beat_cnt[22], timeout, done && !pass, done && pass, done};
endmodule
