// qmac_sim.cpp: SimImpl<Model> adapts every Verilated qmac_top build (one
// per LANES value, each with its own --prefix) to the Sim interface. The
// list of built models comes from build.rs as qmac_models.inc.
#include "qmac_sim.h"
#include "qmac/src/cosim/dut.rs.h"

#include <ctime>
#include <cstring>
#include <vector>
#include <stdexcept>
#include <string>

#include "verilated.h"
#include "verilated_fst_c.h"

namespace qmac {
namespace {

// Pack bytes into a scalar port (CData/SData/IData/QData) ...
template <typename T>
inline void put_bytes(T& port, const uint8_t* b, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(b[i]) << (8 * i);
    port = static_cast<T>(v);
}
// ... or into a wide one.
template <std::size_t N>
inline void put_bytes(VlWide<N>& port, const uint8_t* b, size_t n) {
    for (size_t j = 0; j < N; ++j) port[j] = 0;
    for (size_t i = 0; i < n; ++i) port[i / 4] |= uint32_t(b[i]) << (8 * (i % 4));
}
template <typename T>
inline void get_bytes(const T& port, uint8_t* b, size_t n) {
    uint64_t v = port;
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(v >> (8 * i));
}
template <std::size_t N>
inline void get_bytes(const VlWide<N>& port, uint8_t* b, size_t n) {
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(port[i / 4] >> (8 * (i % 4)));
}
template <typename T>
inline void get_words(const T& port, int32_t* w, size_t n) {
    uint64_t v = port;
    for (size_t i = 0; i < n; ++i) w[i] = int32_t(uint32_t(v >> (32 * i)));
}
template <std::size_t N>
inline void get_words(const VlWide<N>& port, int32_t* w, size_t n) {
    for (size_t i = 0; i < n; ++i) w[i] = int32_t(port[i]);
}
template <typename T>
inline void get_bits(const T& port, uint8_t* b, size_t n) {
    uint64_t v = port;
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t((v >> i) & 1);
}

// The C++ copy of the requantization formula used by the baseline driver
// (TFLite MultiplyByQuantizedMultiplier, W = 32).
inline int64_t ref_requant(int32_t acc, int32_t m0, int32_t e, bool single, int32_t zp, int32_t lo,
                           int32_t hi) {
    int64_t r;
    if (single) {
        const int n = 31 - e;
        r = (int64_t(acc) * m0 + (int64_t(1) << (n - 1))) >> n;
    } else {
        const int left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;
        const int32_t a = int32_t(uint32_t(acc) << left);
        int32_t t;
        if (a == INT32_MIN && m0 == INT32_MIN) {
            t = INT32_MAX;
        } else {
            const int64_t ab = int64_t(a) * m0;
            const int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
            t = int32_t((ab + nudge) / (int64_t(1) << 31));
        }
        const int64_t mask = (int64_t(1) << right) - 1;
        const int64_t rem = t & mask;
        const int64_t thr = (mask >> 1) + (t < 0 ? 1 : 0);
        r = (int64_t(t) >> right) + (rem > thr ? 1 : 0);
    }
    r += zp;
    return r < lo ? lo : (r > hi ? hi : r);
}

template <typename Model, bool Traced>
class SimImpl final : public Sim {
public:
    SimImpl(uint32_t lanes, uint64_t seed, bool trace) : lanes_(lanes) {
        ctx_ = std::make_unique<VerilatedContext>();
        ctx_->randReset(2);  // with --x-initial unique: random, seeded
        // randSeed takes an int; 0 would mean "seed from the clock".
        int s = int((seed ^ (seed >> 31)) & 0x7fffffff);
        ctx_->randSeed(s == 0 ? 1 : s);
        if (trace) ctx_->traceEverOn(true);
        trace_capable_ = trace;
        top_ = std::make_unique<Model>(ctx_.get(), "qmac_top");
        top_->clk = 0;
        top_->rst_n = 0;
        top_->eval();
    }
    ~SimImpl() override {
        trace_close();
        top_->final();
    }
    uint32_t lanes() const override { return lanes_; }

    void reset(uint32_t cycles) override {
        uint8_t y[64], ovf[64];
        int32_t acc[64];
        for (uint32_t i = 0; i < cycles; ++i) step(CTRL_RESET, zeros_, zeros_, 0, 0, y, acc, ovf);
    }

    // One clock cycle.
    inline uint32_t step(uint32_t ctrl, const uint8_t* x, const uint8_t* w, uint16_t cfg_addr,
                         uint32_t cfg_data, uint8_t* y, int32_t* acc, uint8_t* ovf) {
        Model& t = *top_;
        if (ctrl & CTRL_RESET) {
            held_ = was_stalled_ = false;
            stalls_ = in_flight_ = tail_ = 0;
            long_stall_ = 0;
        }
        t.rst_n = (ctrl & CTRL_RESET) ? 0 : 1;
        t.in_valid = (ctrl & CTRL_IN_VALID) ? 1 : 0;
        t.in_first = (ctrl & CTRL_IN_FIRST) ? 1 : 0;
        t.in_last = (ctrl & CTRL_IN_LAST) ? 1 : 0;
        t.out_ready = (ctrl & CTRL_OUT_READY) ? 1 : 0;
        t.cfg_valid = (ctrl & CTRL_CFG_VALID) ? 1 : 0;
        put_bytes(t.in_x, x, lanes_);
        put_bytes(t.in_w, w, lanes_);
        t.cfg_addr = cfg_addr;
        t.cfg_data = cfg_data;
        t.eval();  // clk low: combinational outputs settle
        if constexpr (Traced) {
            if (tfp_) tfp_->dump(ctx_->time());
        }
        ctx_->timeInc(5);
        uint32_t st = 0;
        if (t.in_ready) st |= ST_IN_READY;
        if (t.cfg_ready) st |= ST_CFG_READY;
        if (t.in_valid && t.in_ready) st |= ST_IN_FIRE;
        if (t.cfg_valid && t.cfg_ready) st |= ST_CFG_FIRE;
        if (t.out_valid) {
            st |= ST_OUT_VALID;
            if (t.out_ready) st |= ST_OUT_FIRE;
            get_bytes(t.out_y, y, lanes_);
            get_words(t.out_acc, acc, lanes_);
            get_bits(t.out_ovf, ovf, lanes_);
        }
        t.clk = 1;
        t.eval();  // rising edge
        if constexpr (Traced) {
            if (tfp_) tfp_->dump(ctx_->time());
        }
        ctx_->timeInc(5);
        t.clk = 0;
        ++cycles_;
        return st;
    }

    BatchResult run_batch(const BatchConfig& cfg, rust::Slice<const uint64_t> ops,
                          rust::Slice<const uint8_t> acts, rust::Slice<const uint8_t> weights,
                          rust::Slice<uint8_t> out_y,
                          rust::Slice<int32_t> out_acc, rust::Slice<uint8_t> out_ovf,
                          rust::Slice<uint64_t> out_cycle, rust::Slice<uint64_t> out_stalls,
                          rust::Slice<uint64_t> last_cycle,
                          rust::Slice<uint64_t> last_stalls) override {
        BatchResult r{};
        if (cfg.reseed) {
            // Every run starts its backpressure stream from its own seed, so a
            // run's stall pattern never depends on what ran before on this Sim.
            rng_ = cfg.seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
            if (rng_ == 0) rng_ = 1;
        }
        const size_t L = lanes_;
        // Raw pointers: rust::Slice accessors are out-of-line calls.
        const uint64_t* opv = ops.data();
        const uint64_t kFirst = 1ull << int(OpBit::First), kLast = 1ull << int(OpBit::Last);
        const uint64_t kCfg = 1ull << int(OpBit::Cfg), kReset = 1ull << int(OpBit::Reset);
        const uint64_t kBarrier = 1ull << int(OpBit::Barrier), kJunk = 1ull << int(OpBit::Junk);
        const uint64_t kOverlap = 1ull << int(OpBit::Overlap);
        const size_t n_ops = ops.size();
        const uint8_t* wv = weights.data();
        const uint8_t* xv = acts.data();
        uint8_t* oy = out_y.data();
        int32_t* oacc = out_acc.data();
        uint8_t* oovf = out_ovf.data();
        uint64_t* ocyc = out_cycle.data();
        uint64_t* ostl = out_stalls.data();
        uint64_t* lcyc = last_cycle.data();
        uint64_t* lstl = last_stalls.data();
        const size_t max_out = out_cycle.size();
        const size_t max_last = last_cycle.size();
        size_t op = 0, wi = 0;
        uint64_t idle = 0;
        uint8_t y[64], ovf[64], py[64], povf[64];
        int32_t acc[64], pacc[64];
        while (true) {
            const bool have_op = op < n_ops;
            if (!have_op && !cfg.drain) break;
            if (r.outputs == max_out || r.dots == max_last) break;
            if (cycles_ >= cfg.max_cycle) {
                r.violation = Violation::CycleBound;
                r.violation_cycle = cycles_;
                break;
            }
            if (!have_op && cfg.drain && in_flight_ == 0) {
                if (tail_ >= cfg.tail_cycles) break;
                ++tail_;
            }
            // Backpressure draws (xorshift64*), thresholds are probabilities * 2^32.
            if (long_stall_ == 0 && cfg.long_stall != 0 && draw() < cfg.long_stall) {
                long_stall_ = 20 + uint32_t(draw() % 180);
                ++r.long_stalls;
            }
            const bool stalling = long_stall_ > 0;
            if (stalling) --long_stall_;
            // out_valid is a register: what the DUT presents this cycle is
            // known before the inputs are driven (a lazy consumer waits for it).
            const bool out_ready = !(stalling || (cfg.out_stall != 0 && draw() < cfg.out_stall)) &&
                                   (!cfg.ready_after_valid || top_->out_valid);
            uint32_t ctrl = out_ready ? CTRL_OUT_READY : 0;
            const uint8_t* x = zeros_;
            uint16_t addr = 0;
            uint32_t data = 0;
            const uint8_t* w = zeros_;
            bool is_cfg = false, is_junk = false, overlapped = false;
            if (have_op) {
                const uint64_t o = opv[op];
                if (o & kReset) {
                    // rst_n low mid-stream: whatever is open or in flight is
                    // dropped (only sacrificial beats can be: a barrier and
                    // junk beats precede every reset the Rust driver sends).
                    if (junk_live_ || top_->out_valid) ++r.resets_mid_traffic;
                    for (uint32_t i = 0; i < uint32_t(o & 0xff); ++i)
                        step(CTRL_RESET, zeros_, zeros_, 0, 0, y, acc, ovf);
                    junk_live_ = prev_cfg_fire_ = cfg_waited_ = false;
                    idle = 0;
                    ++op;
                    continue;
                }
                if ((o & kBarrier) && in_flight_ == 0) {
                    ++op;
                    continue;
                }
                if (o & kBarrier) {
                    // wait: present nothing this cycle
                } else if (o & kCfg) {
                    is_cfg = true;
                    ctrl |= CTRL_CFG_VALID;
                    addr = uint16_t(o >> 32);
                    data = uint32_t(o);
                    if (top_->out_valid && !out_ready) ++r.cfg_while_held;
                    // cfg_ready is a function of registers only: its value this
                    // cycle is known before the inputs are driven.
                    if ((o & kOverlap) && op + 1 < n_ops && top_->cfg_ready &&
                        !(opv[op + 1] & (kCfg | kReset | kBarrier | kJunk))) {
                        const uint64_t b = opv[op + 1];
                        overlapped = true;
                        ++r.cfg_with_beat;
                        ctrl |= CTRL_IN_VALID;
                        if (b & kFirst) ctrl |= CTRL_IN_FIRST;
                        if (b & kLast) ctrl |= CTRL_IN_LAST;
                        x = xv + wi;
                        w = wv + wi;
                    }
                } else {
                    const bool present = held_ || !(stalling || (cfg.in_gap != 0 && draw() < cfg.in_gap));
                    if (!present) {
                        if (o & kFirst) ++r.gap_first;
                        if (o & kLast) ++r.gap_last;
                    }
                    if (present) {
                        held_ = true;
                        is_junk = (o & kJunk) != 0;
                        ctrl |= CTRL_IN_VALID;
                        if (o & kFirst) ctrl |= CTRL_IN_FIRST;
                        if (o & kLast) ctrl |= CTRL_IN_LAST;
                        x = xv + wi;
                        w = wv + wi;
                    }
                }
            }
            const uint64_t cyc = cycles_;
            const uint32_t st = step(ctrl, x, w, addr, data, y, acc, ovf);
            if (st & ST_OUT_VALID) {
                if (was_stalled_ && (std::memcmp(y, py, L) || std::memcmp(acc, pacc, 4 * L) ||
                                     std::memcmp(ovf, povf, L)) && r.violation == Violation::None) {
                    r.violation = Violation::OutputChanged;
                    r.violation_cycle = cyc;
                    // The run stops here: the changed output is reported as
                    // such, not compared as a value too.
                    if (cfg.stop_on_violation) break;
                }
                if (!was_stalled_) {
                    // first cycle this output is presented
                    cur_valid_cycle_ = cyc;
                    cur_valid_stalls_ = stalls_;
                }
                if (st & ST_OUT_FIRE) {
                    const size_t k = r.outputs++;
                    std::memcpy(oy + k * L, y, L);
                    std::memcpy(oacc + k * L, acc, 4 * L);
                    std::memcpy(oovf + k * L, ovf, L);
                    ocyc[k] = cur_valid_cycle_;
                    ostl[k] = cur_valid_stalls_;
                    if (in_flight_ > 0) --in_flight_;
                    was_stalled_ = false;
                } else {
                    ++stalls_;
                    ++r.out_stall_cycles;
                    was_stalled_ = true;
                    std::memcpy(py, y, L);
                    std::memcpy(pacc, acc, 4 * L);
                    std::memcpy(povf, ovf, L);
                }
            } else if (was_stalled_) {
                if (r.violation == Violation::None) {
                    r.violation = Violation::ValidDropped;
                    r.violation_cycle = cyc;
                }
                was_stalled_ = false;
            }
            const bool cfg_fired = is_cfg && (st & ST_CFG_FIRE);
            const bool beat_fired = (st & ST_IN_FIRE) && (!is_cfg || overlapped);
            if (is_cfg && !cfg_fired) cfg_waited_ = true;
            if (overlapped && cfg_fired && beat_fired && r.violation == Violation::None) {
                r.violation = Violation::CfgPriority;
                r.violation_cycle = cyc;
            }
            if (have_op && cfg_fired) {
                ++op;
                ++r.cfg_writes;
                if (cfg_waited_) ++r.cfg_behind_dot;
                cfg_waited_ = false;
                // A beat presented with the write stays presented until taken.
                if (overlapped && !beat_fired) held_ = true;
            }
            if (have_op && beat_fired) {
                const uint64_t o = opv[op];
                ++op;
                held_ = false;
                wi += L;
                if (r.beats == 0) r.first_beat_cycle = cyc;
                r.last_beat_cycle = cyc;
                ++r.beats;
                if (prev_cfg_fire_ && !is_junk) ++r.cfg_then_beat;
                if (is_junk) {
                    ++r.junk_beats;
                    junk_live_ = true;
                } else if (o & kLast) {
                    lcyc[r.dots] = cyc;
                    lstl[r.dots] = stalls_;
                    ++r.dots;
                    ++in_flight_;
                }
            }
            prev_cfg_fire_ = cfg_fired;
            // Only a held output (out_valid while the consumer is not ready) is
            // the testbench's own stall; any other cycle without a transfer
            // while work is pending counts towards the deadlock watchdog.
            if (st & (ST_IN_FIRE | ST_CFG_FIRE | ST_OUT_FIRE) ||
                ((st & ST_OUT_VALID) && !out_ready)) {
                idle = 0;
            } else if (have_op || in_flight_ > 0) {
                if (++idle > cfg.watchdog) {
                    r.violation = Violation::Deadlock;
                    r.violation_cycle = cyc;
                    break;
                }
            }
            if (r.violation != Violation::None && cfg.stop_on_violation) break;
        }
        r.ops_done = op;
        if (cfg.drain) tail_ = 0;
        return r;
    }

    BaselineResult cpp_baseline(const BaselineParams& p, rust::Slice<const uint8_t> xs,
                                rust::Slice<const uint8_t> ws, uint32_t k) override {
        BaselineResult res{};
        const size_t L = lanes_;
        uint8_t y[64], ov[64];
        int32_t ac[64];
        for (int i = 0; i < 4; ++i) step(CTRL_RESET, zeros_, zeros_, 0, 0, y, ac, ov);
        // Load the parameters: the register writes Rust made (one register map).
        for (size_t i = 0; i < p.cfg_addr.size(); ++i) {
            uint32_t tries = 0;
            while (!(step(CTRL_OUT_READY | CTRL_CFG_VALID, zeros_, zeros_, p.cfg_addr[i], p.cfg_data[i], y,
                          ac, ov) &
                     ST_CFG_FIRE)) {
                if (++tries > 100000) throw std::runtime_error("cpp_baseline: cfg_ready stuck low");
            }
        }
        // Expected results, computed when a dot product's last beat is sent.
        std::vector<uint8_t> expect_y;
        std::vector<int32_t> accs(L, 0);
        const size_t n = xs.size();
        const uint8_t* xp = xs.data();
        const uint8_t* wp = ws.data();
        expect_y.reserve(n / (k ? k : 1) * L + L);
        size_t head = 0, sent = 0;
        const double t0 = thread_cpu_seconds();
        const uint64_t c0 = cycles_;
        while (res.outputs * k < n) {
            if (cycles_ - c0 > 64 * uint64_t(n) + 100000)
                throw std::runtime_error("cpp_baseline: no verdict within its cycle bound (a broken DUT?)");
            uint32_t ctrl = CTRL_OUT_READY;
            // broadcast activations (CTRL.xl = 0): lane 0's byte, the rest zero
            uint8_t xb[64] = {0};
            uint8_t& x = xb[0];
            const uint8_t* w = zeros_;
            if (sent < n) {
                ctrl |= CTRL_IN_VALID;
                if (sent % k == 0) ctrl |= CTRL_IN_FIRST;
                if (sent % k == k - 1) ctrl |= CTRL_IN_LAST;
                x = xp[sent];
                w = wp + sent * L;
            }
            const uint32_t st = step(ctrl, xb, w, 0, 0, y, ac, ov);
            if (st & ST_IN_FIRE) {
                const int32_t xv = p.uint8 ? int32_t(x) : int32_t(int8_t(x));
                for (size_t l = 0; l < L; ++l) {
                    const int32_t prod = (xv - p.zp_x) * (int32_t(int8_t(w[l])) - p.zp_w);
                    accs[l] = (sent % k == 0) ? int32_t(uint32_t(p.bias[l]) + uint32_t(prod))
                                              : int32_t(uint32_t(accs[l]) + uint32_t(prod));
                    if (sent % k == k - 1)
                        expect_y.push_back(uint8_t(ref_requant(accs[l], p.m0[l], p.shift[l], p.single,
                                                               p.zp_out, p.act_min, p.act_max)));
                }
                ++sent;
                ++res.beats;
            }
            if (st & ST_OUT_FIRE) {
                for (size_t l = 0; l < L; ++l)
                    if (y[l] != expect_y[head + l]) ++res.mismatches;
                head += L;
                ++res.outputs;
            }
        }
        res.cycles = cycles_ - c0;
        res.seconds = thread_cpu_seconds() - t0;  // thread CPU time, like qmac bench's other figures
        return res;
    }

    void trace_open(rust::Str path) override {
        if (!trace_capable_) throw std::runtime_error("this DUT was built without tracing enabled");
        if constexpr (!Traced) {
            throw std::runtime_error("this model was verilated without --trace-fst");
        } else {
            trace_close();
            tfp_ = std::make_unique<VerilatedFstC>();
            top_->trace(tfp_.get(), 99);
            tfp_->open(std::string(path).c_str());
            if (!tfp_->isOpen()) {
                tfp_.reset();
                throw std::runtime_error("cannot open waveform file " + std::string(path));
            }
        }
    }
    void trace_close() override {
        if (tfp_) {
            tfp_->close();
            tfp_.reset();
        }
    }
    uint64_t cycles() const override { return cycles_; }

private:
    inline uint32_t draw() {
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return uint32_t((rng_ * 0x2545F4914F6CDD1Dull) >> 32);
    }
    uint64_t rng_ = 1;
    uint32_t long_stall_ = 0;
    bool held_ = false, was_stalled_ = false;
    // a sacrificial beat transferred since the last reset; a cfg write fired
    // in the previous cycle; the pending cfg write has waited for cfg_ready.
    bool junk_live_ = false, prev_cfg_fire_ = false, cfg_waited_ = false;
    uint64_t stalls_ = 0, in_flight_ = 0, tail_ = 0;
    uint64_t cur_valid_cycle_ = 0, cur_valid_stalls_ = 0;
    uint8_t zeros_[64] = {0};

    uint32_t lanes_;
    uint64_t cycles_ = 0;
    bool trace_capable_ = false;
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Model> top_;
    std::unique_ptr<VerilatedFstC> tfp_;
};

}  // namespace
}  // namespace qmac

// Generated by build.rs: QMAC_MODEL(lanes, Class) for each built model and
// QMAC_MULT_W.
#include "qmac_models.inc"

namespace qmac {

std::unique_ptr<Sim> new_sim(uint32_t lanes, uint64_t seed, bool trace) {
#define QMAC_MODEL(L, CLASS) \
    if (lanes == L) return std::make_unique<SimImpl<CLASS, true>>(lanes, seed, trace);
    QMAC_MODELS
#undef QMAC_MODEL
    throw std::runtime_error("no Verilated model with LANES=" + std::to_string(lanes) +
                             " in this build (rebuild with QMAC_LANES including it)");
}

std::unique_ptr<Sim> new_sim_untraced(uint32_t lanes, uint64_t seed) {
#define QMAC_MODEL(L, CLASS) \
    if (lanes == L) return std::make_unique<SimImpl<CLASS, false>>(lanes, seed, false);
    QMAC_MODELS_NT
#undef QMAC_MODEL
    throw std::runtime_error("no Verilated model with LANES=" + std::to_string(lanes) +
                             " in this build (rebuild with QMAC_LANES including it)");
}

rust::Vec<uint32_t> built_lanes() {
    rust::Vec<uint32_t> v;
#define QMAC_MODEL(L, CLASS) v.push_back(L);
    QMAC_MODELS
#undef QMAC_MODEL
    return v;
}

uint32_t built_mult_w() { return QMAC_MULT_W; }

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace qmac
