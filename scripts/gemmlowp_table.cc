// gemmlowp_table.cc: the exact outputs of gemmlowp's fixed-point functions
// that TFLite's int8 SOFTMAX uses (gemmlowp/fixedpoint/fixedpoint.h, the copy
// TensorFlow 2.21 ships), for a sweep of inputs; tests/golden_ops.rs compares
// qmac's golden implementation with this table bit for bit.
//
// Build and run (the header comes with `pip install tensorflow-cpu==2.21.0`):
//   g++ -O1 -std=c++17 -I$VENV/lib/python3.11/site-packages/tensorflow/include/external/gemmlowp \
//       scripts/gemmlowp_table.cc -o /tmp/gemmlowp_table
//   /tmp/gemmlowp_table > tests/fixtures/gemmlowp/fixedpoint.txt
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fixedpoint/fixedpoint.h"

template <int IB>
int32_t exp_neg(int32_t a) {
    using F = gemmlowp::FixedPoint<int32_t, IB>;
    return gemmlowp::exp_on_negative_values(F::FromRaw(a)).raw();
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return uint32_t(rng >> 16);
}

// Inputs in [INT32_MIN, 0]: a stride of 2^20, every power of two and its
// neighbours (the barrel shifter's boundaries), and 1500 random values.
static std::vector<int32_t> negative_inputs() {
    std::vector<int32_t> v;
    for (int64_t a = INT32_MIN; a <= 0; a += int64_t(1) << 20) v.push_back(int32_t(a));
    for (int k = 0; k < 31; ++k)
        for (int d = -1; d <= 1; ++d) v.push_back(int32_t(-(int64_t(1) << k) + d));
    v.push_back(INT32_MIN);
    v.push_back(INT32_MIN + 1);
    v.push_back(0);
    v.push_back(-1);
    for (int i = 0; i < 1500; ++i) v.push_back(-int32_t(next() & 0x7fffffff));
    return v;
}

int main() {
    std::printf("# function integer_bits input output (gemmlowp fixedpoint.h from TensorFlow 2.21)\n");
    for (int32_t a : negative_inputs()) {
        std::printf("exp 1 %d %d\n", a, exp_neg<1>(a));
        std::printf("exp 5 %d %d\n", a, exp_neg<5>(a));
        std::printf("exp 12 %d %d\n", a, exp_neg<12>(a));
    }
    // one_over_one_plus_x_for_x_in_0_1 on [0, 1) in Q0.31.
    for (int64_t a = 0; a <= INT32_MAX; a += int64_t(1) << 21) {
        using F0 = gemmlowp::FixedPoint<int32_t, 0>;
        std::printf("recip 0 %d %d\n", int32_t(a),
                    gemmlowp::one_over_one_plus_x_for_x_in_0_1(F0::FromRaw(int32_t(a))).raw());
    }
    for (int i = 0; i < 1000; ++i) {
        using F0 = gemmlowp::FixedPoint<int32_t, 0>;
        const int32_t a = int32_t(next() & 0x7fffffff);
        std::printf("recip 0 %d %d\n", a, gemmlowp::one_over_one_plus_x_for_x_in_0_1(F0::FromRaw(a)).raw());
    }
    return 0;
}
