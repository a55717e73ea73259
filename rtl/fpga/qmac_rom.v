// qmac_rom: a read-only memory initialised from a $readmemh file, read
// synchronously (q is mem[addr] of the previous edge) so that every FPGA tool
// infers block RAM (Yosys: ECP5 DP16KD / iCE40 SB_RAM40_4K; Vivado: RAMB18/36;
// Quartus: M9K/M10K/M20K). No reset and no enable on the read port, which is
// what the block RAMs' output registers support everywhere.
//
// FILE is opened relative to the tool's working directory (the simulator's,
// or the synthesis project's): see rtl/fpga/README.md. The file must hold
// exactly DEPTH words of WIDTH bits (qmac bundles do; `//` comment lines are
// skipped by every $readmemh).
module qmac_rom #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 1,
    parameter integer AW    = 1,
    parameter         FILE  = "rom.hex"
) (
    input  wire             clk,
    input  wire [AW-1:0]    addr,
    output reg  [WIDTH-1:0] q
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    initial $readmemh(FILE, mem, 0, DEPTH - 1);
    always @(posedge clk) q <= mem[addr];
endmodule
