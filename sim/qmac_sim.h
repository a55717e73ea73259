// qmac_sim.h: the C++ side of the Rust <-> Verilator bridge (see src/cosim/dut.rs).
//
// One Sim owns one VerilatedContext and one Verilated qmac_top model, so
// several Sims run in parallel threads. Each internal `step` is one full
// clock cycle: drive inputs with clk low, settle, sample the handshake and
// output signals (what the DUT presents before the edge), then the rising edge.
#pragma once

#include <cstdint>
#include <memory>

#include "rust/cxx.h"

namespace qmac {

// ctrl bits of one step (internal to the C++ driver)
constexpr uint32_t CTRL_RESET = 1u << 0;      // rst_n low this cycle
constexpr uint32_t CTRL_IN_VALID = 1u << 1;
constexpr uint32_t CTRL_IN_FIRST = 1u << 2;
constexpr uint32_t CTRL_IN_LAST = 1u << 3;
constexpr uint32_t CTRL_OUT_READY = 1u << 4;
constexpr uint32_t CTRL_CFG_VALID = 1u << 5;
// status bits of one step (sampled before the rising edge)
constexpr uint32_t ST_IN_FIRE = 1u << 0;      // in_valid && in_ready
constexpr uint32_t ST_CFG_FIRE = 1u << 1;     // cfg_valid && cfg_ready
constexpr uint32_t ST_OUT_FIRE = 1u << 2;     // out_valid && out_ready
constexpr uint32_t ST_IN_READY = 1u << 3;
constexpr uint32_t ST_CFG_READY = 1u << 4;
constexpr uint32_t ST_OUT_VALID = 1u << 5;    // y/acc/ovf were written

struct BatchConfig;
struct BatchResult;
struct BaselineParams;
struct BaselineResult;

class Sim {
public:
    virtual ~Sim() = default;
    virtual uint32_t lanes() const = 0;
    // Hold reset (rst_n low) for `cycles` cycles.
    virtual void reset(uint32_t cycles) = 0;
    // Stream many cycles in one call (see src/cosim/dut.rs, Dut::run_batch): drive
    // `ops` (cfg writes and beats; each beat's LANES in_x bytes in `acts`, its
    // LANES weights in `weights`) with seeded random backpressure, record every
    // output beat and the cycle of every dot product's last beat, and check
    // output stability while stalled.
    virtual BatchResult run_batch(const BatchConfig& cfg, rust::Slice<const uint64_t> ops,
                                  rust::Slice<const uint8_t> acts, rust::Slice<const uint8_t> weights,
                                  rust::Slice<uint8_t> out_y,
                                  rust::Slice<int32_t> out_acc, rust::Slice<uint8_t> out_ovf,
                                  rust::Slice<uint64_t> out_cycle, rust::Slice<uint64_t> out_stalls,
                                  rust::Slice<uint64_t> last_cycle,
                                  rust::Slice<uint64_t> last_stalls) = 0;
    virtual BaselineResult cpp_baseline(const BaselineParams& p, rust::Slice<const uint8_t> x,
                                        rust::Slice<const uint8_t> w, uint32_t k) = 0;
    // Start writing an FST waveform (the model must have been made with trace=true).
    virtual void trace_open(rust::Str path) = 0;
    virtual void trace_close() = 0;
    virtual uint64_t cycles() const = 0;
};

// A new DUT of the build's model with `lanes` lanes; throws if none was built.
// `seed` randomises the X-initialisation of every register (--x-initial unique).
std::unique_ptr<Sim> new_sim(uint32_t lanes, uint64_t seed, bool trace);
// A DUT of the model verilated without --trace-fst (built for one LANES value).
std::unique_ptr<Sim> new_sim_untraced(uint32_t lanes, uint64_t seed);
// The LANES values this build has models for.
rust::Vec<uint32_t> built_lanes();
// CPU time of the calling thread in seconds (benchmarks: immune to other load).
double thread_cpu_seconds();
// The MULT_W of the built models.
uint32_t built_mult_w();

}  // namespace qmac
