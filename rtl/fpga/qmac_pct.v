// qmac_pct: the backpressure draw of sim/replay_tb.sv, synthesizable.
//
// replay_tb steps a xorshift32 generator every cycle and stalls when
// (r % 100) < PCT. A 32-bit `% 100` is a long divider, so here the generator
// free-runs and the remainder is computed over four pipeline registers
// (8 bits of the 32 per stage, restoring division by the constant 100): `hit`
// in the cycle after edge e tells whether value r_(e-5) hits, where r_0
// is the value loaded in reset. qmac_player starts its schedule four cycles
// after reset, so it sees exactly replay_tb's sequence of draws.
//
// Reset (synchronous, rst_n low): loads r_0 = SEED * MUL + ADD (replay_tb's
// seeding, MUL/ADD differ for the input and the output side).
module qmac_pct #(
    parameter integer PCT  = 0,          // 0..99
    parameter [31:0]  SEED = 32'd1,
    parameter [31:0]  MUL  = 32'd2654435761,
    parameter [31:0]  ADD  = 32'd1
) (
    input  wire clk,
    input  wire rst_n,
    output wire hit
);
    // STAGES = 4 (qmac_player's PCT_STAGES): rem1 .. rem4
    localparam [31:0]  R0 = SEED * MUL + ADD;
    localparam [31:0]  PCT_W = PCT;
    localparam [6:0]   P  = PCT_W[6:0];

    reg  [31:0] r;
    // pipeline: remainder so far and the bits not yet consumed
    reg  [6:0]  rem1, rem2, rem3, rem4;
    reg  [23:0] rest1;
    reg  [15:0] rest2;
    reg  [7:0]  rest3;

    function [31:0] xorshift(input [31:0] v);
        reg [31:0] t;
        begin
            t = v ^ (v << 13);
            t = t ^ (t >> 17);
            xorshift = t ^ (t << 5);
        end
    endfunction

    // eight steps of "remainder = (2 * remainder + next bit) mod 100"
    function [6:0] mod8(input [6:0] rem_in, input [7:0] bits);
        reg [7:0] t;
        integer i;
        begin
            t = {1'b0, rem_in};
            for (i = 7; i >= 0; i = i - 1) begin
                t = {t[6:0], bits[i]};
                if (t >= 8'd100) t = t - 8'd100;
            end
            mod8 = t[6:0];
        end
    endfunction

    always @(posedge clk) begin
        if (!rst_n) r <= R0;
        else        r <= xorshift(r);
        rem1  <= mod8(7'd0, r[31:24]);
        rest1 <= r[23:0];
        rem2  <= mod8(rem1, rest1[23:16]);
        rest2 <= rest1[15:0];
        rem3  <= mod8(rem2, rest2[15:8]);
        rest3 <= rest2[7:0];
        rem4  <= mod8(rem3, rest3);
    end
    assign hit = rem4 < P;
endmodule
