// board_icebreaker: qmac_bringup on an iCEBreaker (Lattice iCE40 UP5K,
// 12 MHz oscillator, FT2232H USB-UART on its second channel). Pins:
// boards/icebreaker.pcf.
//   clk      12 MHz oscillator (pin 35)
//   btn_n    the user button, active low: re-run the bundle
//   ledg_n   green LED, active low: lit = PASS, blinking = running
//   ledr_n   red LED, active low: lit = FAIL (a mismatch or the watchdog), or a
//            mismatch already seen while running
//   led[5:1] snap-off section LED1..LED5, active high: done, pass, fail, timeout, heartbeat
//   tx       UART to the host, 115200 8N1 (the FT2232H's second port, /dev/ttyUSB1 on Linux)
// Waiver: each board file is a top of its own (one per board); read together
// with the other board's (a lint of all of rtl/) they are two tops by design.
/* verilator lint_off MULTITOP */
module board_icebreaker #(
    parameter integer LANES      = 1,
    parameter integer MULT_W     = 32,
    parameter integer N_PROG     = 1,
    parameter integer N_CFG      = 1,
    parameter integer N_BEATS    = 1,
    parameter integer N_OUT      = 1,
    parameter integer BP_PERCENT = 0,
    parameter integer SEED       = 1
) (
    input  wire       clk,
    input  wire       btn_n,
    output wire       ledg_n,
    output wire       ledr_n,
    output wire [5:1] led,
    output wire       tx
);
    wire [7:0] l;
    qmac_bringup #(
        .LANES(LANES), .MULT_W(MULT_W),
        .N_PROG(N_PROG), .N_CFG(N_CFG), .N_BEATS(N_BEATS), .N_OUT(N_OUT),
        .BP_PERCENT(BP_PERCENT), .SEED(SEED), .CLK_HZ(12000000), .BAUD(115200)
    ) u_bringup (
        .clk(clk), .btn(!btn_n), .led(l), .uart_tx(tx)
    );
    assign ledg_n = !(l[1] || l[4]);
    assign ledr_n = !(l[2] || l[7:5] != 3'd0);   // fail, or a mismatch seen while running
    assign led    = l[4:0];
endmodule
