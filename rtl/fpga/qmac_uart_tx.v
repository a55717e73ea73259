// qmac_uart_tx: 8N1 UART transmitter. DIV clock cycles per bit
// (CLK_HZ / BAUD rounded: 25 MHz / 115200 -> 217, 12 MHz / 115200 -> 104).
// A byte is taken when valid && ready; tx idles high. rst_n synchronous,
// active low (tx high, nothing in flight).
module qmac_uart_tx #(
    parameter integer DIV = 217     // 2..65535
) (
    input  wire       clk,
    input  wire       rst_n,
    input  wire       valid,
    input  wire [7:0] data,
    output wire       ready,
    output wire       tx
);
    localparam [31:0] DIV_W  = DIV - 1;
    localparam [15:0] DIV_M1 = DIV_W[15:0];
    reg  [9:0]  shift;   // stop bit, 8 data bits LSB first, start bit (shifted out from bit 0)
    reg  [3:0]  bits;    // bits still to send
    reg  [15:0] tick;
    assign ready = bits == 4'd0;
    assign tx    = ready ? 1'b1 : shift[0];
    always @(posedge clk) begin
        if (!rst_n) begin
            bits  <= 4'd0;
            tick  <= 16'd0;
            shift <= 10'h3ff;
        end else if (ready) begin
            if (valid) begin
                shift <= {1'b1, data, 1'b0};
                bits  <= 4'd10;
                tick  <= 16'd0;
            end
        end else if (tick == DIV_M1) begin
            tick  <= 16'd0;
            shift <= {1'b1, shift[9:1]};
            bits  <= bits - 4'd1;
        end else begin
            tick <= tick + 16'd1;
        end
    end
endmodule
