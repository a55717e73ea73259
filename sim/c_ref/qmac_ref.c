/* qmac_ref: a reference C implementation of one int8 layer exported by
 * `qmac export-c`, written to be read against docs/arithmetic.md and copied
 * into embedded or HLS code.
 *
 *   cc -O2 -std=c99 -o qmac_ref sim/c_ref/qmac_ref.c
 *   ./qmac_ref OUT/LAYER            reads OUT/LAYER.*.txt, prints one output per line
 *
 * Every file is one integer per line, nothing else (a plain fscanf("%d")
 * loop reads it):
 *   LAYER.dims.txt         the layer's dimensions and scalars, in the order of
 *                          enum dim below (also #defined in LAYER.h)
 *   LAYER.input.txt        int8 (or uint8) activations, NHWC
 *   LAYER.weights.txt      int8 weights: conv / FC [Cout][KH][KW][Cin/groups],
 *                          depthwise [KH][KW][Cin*depth_multiplier]
 *   LAYER.folded_bias.txt  per output channel: bias - zp_x*sum(w) + K*zp_x*zp_w
 *                          (mod 2^32, over all K taps of the channel)
 *   LAYER.m0.txt, LAYER.shift.txt   per output channel: M0 (Q31) and the
 *                          TFLite exponent e (M = M0 * 2^(e-31))
 *   LAYER.bias.txt         the int32 bias itself (not needed by this program)
 *   LAYER.output.txt       the golden model's output, to compare with
 *
 * A grouped conv (GROUPS > 1) splits the Cout output channels into GROUPS
 * groups; channel c reads only the Cin/GROUPS input channels of its group
 * c / (Cout/GROUPS).
 *
 * The layer:  acc = folded_bias[c] + sum(x*w) - zp_w*sum(x)   (mod 2^32; padded
 * taps read x = zp_x, so they add 0 to the unfolded sum (x - zp_x)(w - zp_w))
 *             y   = clamp(zp_out + requant(acc, M0[c], e[c]), act_min, act_max)
 * requant is TFLite's MultiplyByQuantizedMultiplier (ROUNDING 0: double
 * rounding, SaturatingRoundingDoublingHighMul then RoundingDivideByPOT) or
 * its TFLITE_SINGLE_ROUNDING form (ROUNDING 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum dim {
    OP, /* 0 conv2d, 1 depthwise_conv2d, 2 fully_connected (a 1x1 conv2d) */
    N, H, W, CIN, KH, KW, COUT, OH, OW,
    STRIDE_H, STRIDE_W, DIL_H, DIL_W, PAD_TOP, PAD_LEFT, DEPTH_MULTIPLIER,
    ZP_X, ZP_W, ZP_OUT, ACT_MIN, ACT_MAX, ROUNDING, TAPS, GROUPS,
    N_DIMS
};

static void die(const char* what, const char* path) {
    fprintf(stderr, "qmac_ref: %s: %s\n", path, what);
    exit(2);
}

/* Read exactly n integers in [lo, hi], one per line, from PREFIX.NAME.txt. */
static int32_t* read_ints(const char* prefix, const char* name, long n, long lo, long hi) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%s.txt", prefix, name);
    FILE* f = fopen(path, "r");
    if (!f) die("cannot open", path);
    int32_t* v = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!v) die("out of memory", path);
    for (long i = 0; i < n; ++i) {
        long x;
        if (fscanf(f, "%ld", &x) != 1) die("too few values", path);
        if (x < lo || x > hi) {
            fprintf(stderr, "qmac_ref: %s: line %ld: %ld is outside [%ld, %ld]\n", path, i + 1, x, lo, hi);
            exit(2);
        }
        v[i] = (int32_t)x;
    }
    long extra;
    if (fscanf(f, "%ld", &extra) == 1) die("too many values", path);
    fclose(f);
    return v;
}

/* Arithmetic right shift of a signed 64-bit value (floor division by 2^n). */
static int64_t asr64(int64_t v, int n) {
    return v >= 0 ? v >> n : -((-(v + 1)) >> n) - 1;
}

/* gemmlowp SaturatingRoundingDoublingHighMul. */
static int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    int64_t s = ab + nudge;
    /* division by 2^31 truncating toward zero, as gemmlowp does */
    int64_t q = s >= 0 ? s / (1LL << 31) : -((-s) / (1LL << 31));
    return (int32_t)q;
}

/* gemmlowp RoundingDivideByPOT: round half away from zero. */
static int32_t rdbp(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1LL << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(asr64(x, exponent) + (remainder > threshold ? 1 : 0));
}

static int64_t requant(int32_t acc, int32_t m0, int32_t e, int single) {
    if (single) {
        int n = 31 - e; /* e in [-31, 30]: n in [1, 62] */
        int64_t p = (int64_t)acc * (int64_t)m0;
        return asr64(p + (1LL << (n - 1)), n);
    }
    int left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;
    int32_t a = (int32_t)((uint32_t)acc << left);
    return rdbp(srdhm(a, m0), right);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: qmac_ref OUT/LAYER   (the prefix of the files qmac export-c wrote)\n");
        return 2;
    }
    const char* p = argv[1];
    int32_t* d = read_ints(p, "dims", N_DIMS, -1024, 1L << 30);
    {
        char path[4096];
        snprintf(path, sizeof path, "%s.dims.txt", p);
        if (d[OP] < 0 || d[OP] > 2) die("OP (line 1) must be 0, 1 or 2", path);
        if (d[ROUNDING] < 0 || d[ROUNDING] > 1) die("ROUNDING (line 23) must be 0 or 1", path);
        for (int k = N; k <= DEPTH_MULTIPLIER; ++k)
            if (d[k] < (k >= PAD_TOP && k <= PAD_LEFT ? 0 : 1)) die("a size, stride or dilation below 1 (lines 2-17)", path);
        if (d[GROUPS] < 1 || d[CIN] % d[GROUPS] || d[COUT] % d[GROUPS] || (d[OP] != 0 && d[GROUPS] != 1))
            die("GROUPS (line 25) must divide CIN and COUT, and be 1 unless OP is 0", path);
    }
    /* A conv channel's input channels: its group's Cin/GROUPS. */
    const long cin_g = d[CIN] / d[GROUPS], cout_g = d[COUT] / d[GROUPS];
    const long n_in = (long)d[N] * d[H] * d[W] * d[CIN];
    const long n_w = d[OP] == 1 ? (long)d[KH] * d[KW] * d[COUT] : (long)d[COUT] * d[KH] * d[KW] * cin_g;
    const long n_out = (long)d[N] * d[OH] * d[OW] * d[COUT];
    int32_t* x = read_ints(p, "input", n_in, -128, 255);
    int32_t* w = read_ints(p, "weights", n_w, -128, 127);
    int32_t* fb = read_ints(p, "folded_bias", d[COUT], INT32_MIN, INT32_MAX);
    int32_t* m0 = read_ints(p, "m0", d[COUT], INT32_MIN, INT32_MAX);
    int32_t* sh = read_ints(p, "shift", d[COUT], -31, 30);
    for (long n = 0; n < d[N]; ++n)
        for (long oh = 0; oh < d[OH]; ++oh)
            for (long ow = 0; ow < d[OW]; ++ow)
                for (long c = 0; c < d[COUT]; ++c) {
                    uint32_t acc = (uint32_t)fb[c], sum_x = 0;
                    const long cin_n = d[OP] == 1 ? 1 : cin_g;
                    for (long kh = 0; kh < d[KH]; ++kh)
                        for (long kw = 0; kw < d[KW]; ++kw)
                            for (long ic = 0; ic < cin_n; ++ic) {
                                long ih = oh * d[STRIDE_H] + kh * d[DIL_H] - d[PAD_TOP];
                                long iw = ow * d[STRIDE_W] + kw * d[DIL_W] - d[PAD_LEFT];
                                long chan = d[OP] == 1 ? c / d[DEPTH_MULTIPLIER] : (c / cout_g) * cin_g + ic;
                                int32_t xv = (ih < 0 || ih >= d[H] || iw < 0 || iw >= d[W])
                                                 ? d[ZP_X]
                                                 : x[((n * d[H] + ih) * d[W] + iw) * d[CIN] + chan];
                                int32_t wv = d[OP] == 1 ? w[(kh * d[KW] + kw) * d[COUT] + c]
                                                        : w[((c * d[KH] + kh) * d[KW] + kw) * cin_g + ic];
                                acc += (uint32_t)(xv * wv);
                                sum_x += (uint32_t)xv;
                            }
                    acc -= (uint32_t)d[ZP_W] * sum_x;
                    int64_t y = d[ZP_OUT] + requant((int32_t)acc, m0[c], sh[c], d[ROUNDING]);
                    if (y < d[ACT_MIN]) y = d[ACT_MIN];
                    if (y > d[ACT_MAX]) y = d[ACT_MAX];
                    printf("%ld\n", (long)y);
                }
    (void)n_out;
    free(x), free(w), free(fb), free(m0), free(sh), free(d);
    return 0;
}
