// board_ulx3s: qmac_bringup on a ULX3S (Lattice ECP5 LFE5U-85F, 25 MHz
// oscillator, FT231X USB-UART). Pins: boards/ulx3s.lpf.
//   clk_25mhz  25 MHz oscillator (G2)
//   btn[1]     FIRE1, active high: re-run the bundle
//   led[7:0]   see qmac_bringup (led[0] done, led[1] pass, led[2] fail, led[3] timeout)
//   ftdi_rxd   UART to the host, 115200 8N1 (/dev/ttyUSB0 on Linux)
// The bundle parameters (LANES, MULT_W, N_*, BP_PERCENT, SEED) are set by
// scripts/fpga from the bundle's manifest.toml; the $readmemh files are read
// from the synthesis tool's working directory.
// Waiver: each board file is a top of its own (one per board); read together
// with the other board's (a lint of all of rtl/) they are two tops by design.
/* verilator lint_off MULTITOP */
module board_ulx3s #(
    parameter integer LANES      = 8,
    parameter integer MULT_W     = 32,
    parameter integer N_PROG     = 1,
    parameter integer N_CFG      = 1,
    parameter integer N_BEATS    = 1,
    parameter integer N_OUT      = 1,
    parameter integer BP_PERCENT = 0,
    parameter integer SEED       = 1
) (
    input  wire       clk_25mhz,
    input  wire [1:1] btn,
    output wire [7:0] led,
    output wire       ftdi_rxd
);
    qmac_bringup #(
        .LANES(LANES), .MULT_W(MULT_W),
        .N_PROG(N_PROG), .N_CFG(N_CFG), .N_BEATS(N_BEATS), .N_OUT(N_OUT),
        .BP_PERCENT(BP_PERCENT), .SEED(SEED), .CLK_HZ(25000000), .BAUD(115200)
    ) u_bringup (
        .clk(clk_25mhz), .btn(btn[1]), .led(led), .uart_tx(ftdi_rxd)
    );
endmodule
