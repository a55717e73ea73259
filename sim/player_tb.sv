// qmac_player_tb: simulates the synthesizable bring-up top (rtl/fpga/
// qmac_bringup.v: qmac_player + qmac_top + qmac_report) on a vector bundle,
// as it would run on a board, and decodes its UART line.
//
// Plain Verilog (plus $fatal) for Icarus (iverilog -g2012) and Verilator
// (--binary --timing); scripts/fpga sim runs it with the bundle directory as
// the working directory and the manifest's counts as parameters. The UART
// runs at DIV = 8 clock cycles per bit here (CLK_HZ = 8, BAUD = 1) so the line
// takes ~7000 cycles instead of ~170000 at 115200 baud; the receiver below
// samples mid-bit and checks each byte's start and stop bit.
//
// Prints the player's registers (read through the hierarchy) once its
// reporter has sent the whole line, then the decoded line:
//   PLAYER done=1 pass=1 timeout=0 mismatches=0 first=- lanes=- cycles=839 beats=784 outputs=100 cfg=30
//   UART: QMAC PASS beats=784 outputs=100 cfg=30 cycles=839 mismatches=0 first=- lanes=-
// and $finish; a UART framing error or no complete line within MAX_CYCLES
// prints `TB FAIL ...` and calls $fatal.
`timescale 1ns / 1ps
module qmac_player_tb #(
    parameter integer LANES      = 8,
    parameter integer MULT_W     = 32,
    parameter integer N_PROG     = 1,
    parameter integer N_CFG      = 1,
    parameter integer N_BEATS    = 1,
    parameter integer N_OUT      = 1,
    parameter integer BP_PERCENT = 0,
    parameter integer SEED       = 1,
    parameter integer WATCHDOG   = 65536
);
    localparam integer DIV = 8;
    localparam integer MAX_CYCLES = 20000 + 64 * (N_BEATS + 16 * N_CFG + 64 * N_OUT) + 2 * WATCHDOG;

    reg  clk = 1'b0;
    reg  btn = 1'b1;
    wire [7:0] led;
    wire uart_tx;
    always #5 clk = ~clk;

    qmac_bringup #(
        .LANES(LANES), .MULT_W(MULT_W),
        .N_PROG(N_PROG), .N_CFG(N_CFG), .N_BEATS(N_BEATS), .N_OUT(N_OUT),
        .BP_PERCENT(BP_PERCENT), .SEED(SEED), .WATCHDOG(WATCHDOG),
        .CLK_HZ(DIV), .BAUD(1), .REPEAT(0)
    ) dut (.clk(clk), .btn(btn), .led(led), .uart_tx(uart_tx));

    integer cyc = 0;
    always @(posedge clk) cyc <= cyc + 1;

    // UART receiver
    reg [7:0] ch;
    reg       line_done = 1'b0;
    reg       started = 1'b0;
    integer   b, nbytes = 0;
    initial begin : rx
        repeat (8) @(posedge clk);
        btn <= 1'b0;
        while (!line_done) begin
            @(posedge clk);
            if (uart_tx === 1'b0) begin
                repeat (DIV / 2) @(posedge clk);
                if (uart_tx !== 1'b0) begin
                    $display("TB FAIL: UART framing: start bit of byte %0d not low mid-bit", nbytes);
                    $fatal(1, "qmac player: UART framing");
                end
                for (b = 0; b < 8; b = b + 1) begin
                    repeat (DIV) @(posedge clk);
                    ch[b] = uart_tx;
                end
                repeat (DIV) @(posedge clk);
                if (uart_tx !== 1'b1) begin
                    $display("TB FAIL: UART framing: stop bit of byte %0d not high", nbytes);
                    $fatal(1, "qmac player: UART framing");
                end
                nbytes = nbytes + 1;
                if (!started) begin
                    $write("UART: ");
                    started = 1'b1;
                end
                if (ch == 8'h0a) line_done = 1'b1;
                else if (ch != 8'h0d) $write("%c", ch);
            end
        end
        $write("\n");
    end

    initial begin
        while (!line_done && cyc < MAX_CYCLES) @(posedge clk);
        if (!line_done) begin
            $display("TB FAIL: no complete UART line after %0d cycles (done=%0d)", cyc, led[0]);
            $fatal(1, "qmac player: no verdict");
        end
        $write("PLAYER done=%0d pass=%0d timeout=%0d mismatches=%0d ", dut.u_player.done,
               dut.u_player.pass, dut.u_player.timeout, dut.u_player.mismatches);
        if (dut.u_player.have_first)
            $write("first=%0d lanes=%h ", dut.u_player.first_index, dut.u_player.first_lanes);
        else
            $write("first=- lanes=- ");
        $display("cycles=%0d beats=%0d outputs=%0d cfg=%0d", dut.u_player.cycles,
                 dut.u_player.beats_sent, dut.u_player.outputs_seen, dut.u_player.cfg_sent);
        $display("LEDS %b", led);
        $finish;
    end
endmodule
