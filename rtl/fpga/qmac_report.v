// qmac_report: prints qmac_player's verdict as one ASCII line on a UART
// when `done` rises, and again every REPEAT cycles while done stays high
// (REPEAT = 0: once), so a terminal opened late still sees it:
//
//   QMAC PASS beats=784 outputs=100 cfg=30 cycles=839 mismatches=0 first=- lanes=-\r\n
//   QMAC FAIL beats=784 outputs=100 cfg=30 cycles=839 mismatches=1 first=41 lanes=04\r\n
//   QMAC TIMEOUT beats=784 outputs=0 cfg=30 cycles=66419 mismatches=0 first=- lanes=-\r\n
//
// Numbers are decimal (a sequential double-dabble, 32 cycles a number);
// lanes is the first mismatch's lane mask in hex (bit l = lane l), `-` when
// nothing mismatched. The fields are the player's registers, read after done
// (they do not change then). rst_n synchronous, active low.
module qmac_report #(
    parameter integer LANES  = 8,
    parameter integer DIV    = 217,   // UART clock cycles per bit
    parameter integer REPEAT = 0      // 0 or 1..2^31-1 cycles between lines
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             done,
    input  wire             pass,
    input  wire             timeout,
    input  wire [31:0]      beats,
    input  wire [31:0]      outputs,
    input  wire [31:0]      cfg,
    input  wire [31:0]      cycles,
    input  wire [31:0]      mismatches,
    input  wire             have_first,
    input  wire [31:0]      first_index,
    input  wire [LANES-1:0] first_lanes,   // LANES <= 64
    output wire             tx
);
    // The line: `%x` is field x (v verdict, b c g y m f l numbers, n CR LF).
    localparam integer TLEN = 78;
    localparam [8*TLEN-1:0] TEMPLATE =
        "QMAC %v beats=%b outputs=%o cfg=%g cycles=%y mismatches=%m first=%f lanes=%l%n";
    localparam integer HEX = (LANES + 3) / 4;
    localparam [31:0]  REPEAT_V = REPEAT;

    // ---------------- UART ----------------
    reg        u_valid;
    reg  [7:0] u_data;
    wire       u_ready;
    qmac_uart_tx #(.DIV(DIV)) u_tx (.clk(clk), .rst_n(rst_n), .valid(u_valid), .data(u_data),
                                    .ready(u_ready), .tx(tx));

    // ---------------- formatter ----------------
    localparam [2:0] R_IDLE = 3'd0, R_CHAR = 3'd1, R_FIELD = 3'd2, R_CONV = 3'd3,
                     R_EMIT = 3'd4;
    reg  [2:0]  st;
    reg  [6:0]  ti;          // template index
    reg  [7:0]  field;
    reg  [127:0] text;       // a field's characters, text[8*k +: 8] the k-th from the end
    reg  [4:0]  tlen;        // number of them
    reg  [31:0] bin;         // double-dabble: binary in, BCD out
    reg  [39:0] bcd;
    reg  [5:0]  steps;
    reg         done_seen;
    reg  [31:0] wait_cnt;

    function [7:0] tchar(input [6:0] i);
        begin
            tchar = TEMPLATE[8 * (TLEN - 1 - {25'd0, i}) +: 8];
        end
    endfunction

    function [7:0] hexchar(input [3:0] d);
        begin
            hexchar = (d < 4'd10) ? 8'h30 + {4'd0, d} : 8'h57 + {4'd0, d};
        end
    endfunction

    // one double-dabble step: add 3 to every BCD digit >= 5, then shift in bin's MSB
    function [39:0] dabble(input [39:0] b, input in_bit);
        reg [39:0] t;
        integer k;
        begin
            t = b;
            for (k = 0; k < 10; k = k + 1)
                if (t[4*k +: 4] >= 4'd5) t[4*k +: 4] = t[4*k +: 4] + 4'd3;
            dabble = {t[38:0], in_bit};
        end
    endfunction

    // the BCD digits as text, without leading zeros
    reg [127:0] dtext;
    reg [4:0]   dlen;
    integer k;
    always @(*) begin
        dlen  = 5'd1;
        dtext = {128{1'b0}};
        for (k = 0; k < 10; k = k + 1) begin
            dtext[8*k +: 8] = 8'h30 + {4'd0, bcd[4*k +: 4]};
            if (bcd[4*k +: 4] != 4'd0) dlen = k[4:0] + 5'd1;
        end
    end

    // the lane mask as HEX hex digits
    reg [127:0] htext;
    reg [4*HEX-1:0] lanes_pad;
    integer h;
    always @(*) begin
        lanes_pad = {4*HEX{1'b0}};
        lanes_pad[LANES-1:0] = first_lanes;
        htext = {128{1'b0}};
        for (h = 0; h < HEX; h = h + 1)
            htext[8*h +: 8] = hexchar(lanes_pad[4*h +: 4]);
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            st        <= R_IDLE;
            ti        <= 7'd0;
            u_valid   <= 1'b0;
            u_data    <= 8'd0;
            done_seen <= 1'b0;
            wait_cnt  <= 32'd0;
            field     <= 8'd0;
            text      <= 128'd0;
            tlen      <= 5'd0;
            bin       <= 32'd0;
            bcd       <= 40'd0;
            steps     <= 6'd0;
        end else begin
            if (u_valid && u_ready) u_valid <= 1'b0;
            case (st)
                R_IDLE: begin
                    if (done && !done_seen) begin
                        done_seen <= 1'b1;
                        ti        <= 7'd0;
                        st        <= R_CHAR;
                    end else if (done && REPEAT_V != 32'd0) begin
                        wait_cnt <= wait_cnt + 32'd1;
                        if (wait_cnt == REPEAT_V - 32'd1) begin
                            wait_cnt <= 32'd0;
                            ti       <= 7'd0;
                            st       <= R_CHAR;
                        end
                    end
                end
                R_CHAR: begin
                    if (!u_valid) begin
                        if ({25'd0, ti} == TLEN) begin
                            st <= R_IDLE;
                        end else if (tchar(ti) == "%") begin
                            field <= tchar(ti + 7'd1);
                            ti    <= ti + 7'd2;
                            st    <= R_FIELD;
                        end else begin
                            u_data  <= tchar(ti);
                            u_valid <= 1'b1;
                            ti      <= ti + 7'd1;
                        end
                    end
                end
                R_FIELD: begin
                    st    <= R_CONV;
                    steps <= 6'd0;
                    bcd   <= 40'd0;
                    case (field)
                        "b": bin <= beats;
                        "o": bin <= outputs;
                        "g": bin <= cfg;
                        "y": bin <= cycles;
                        "m": bin <= mismatches;
                        "f": bin <= first_index;
                        default: bin <= 32'd0;
                    endcase
                    if (field == "v") begin
                        st <= R_EMIT;
                        if (timeout)   begin text <= {72'd0, "TIMEOUT"}; tlen <= 5'd7; end
                        else if (pass) begin text <= {96'd0, "PASS"};    tlen <= 5'd4; end
                        else           begin text <= {96'd0, "FAIL"};    tlen <= 5'd4; end
                    end else if (field == "n") begin
                        st   <= R_EMIT;
                        text <= {112'd0, 8'h0d, 8'h0a};
                        tlen <= 5'd2;
                    end else if ((field == "f" || field == "l") && !have_first) begin
                        st   <= R_EMIT;
                        text <= {120'd0, "-"};
                        tlen <= 5'd1;
                    end else if (field == "l") begin
                        st   <= R_EMIT;
                        text <= htext;
                        tlen <= HEX[4:0];
                    end
                end
                R_CONV: begin
                    if (steps == 6'd32) begin
                        text <= dtext;
                        tlen <= dlen;
                        st   <= R_EMIT;
                    end else begin
                        bcd   <= dabble(bcd, bin[31]);
                        bin   <= {bin[30:0], 1'b0};
                        steps <= steps + 6'd1;
                    end
                end
                R_EMIT: begin
                    if (!u_valid) begin
                        if (tlen == 5'd0) begin
                            st <= R_CHAR;
                        end else begin
                            u_data  <= text[8*(tlen - 5'd1) +: 8];
                            u_valid <= 1'b1;
                            tlen    <= tlen - 5'd1;
                        end
                    end
                end
                default: st <= R_IDLE;
            endcase
        end
    end
endmodule
