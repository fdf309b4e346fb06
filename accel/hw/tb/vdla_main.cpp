// Testbench for vdla_core under Verilator: the instruction ROM, the DRAM model and the
// per-instruction timeline recorder. No Python runs per clock cycle.
//
//   vdla_sim JOB...            one job: INSNS DRAM OUT LATENCY MAX_CYCLES [VCD]
//   vdla_sim --batch FILE      one job per line of FILE (same fields, whitespace separated)
//
// INSNS holds the encoded 16-byte instructions, DRAM the initial image. The job writes
// OUT.dram (the final image), OUT.timeline (int64 F Q S R G X P per instruction, -1 if the
// event did not happen) and OUT.json (status, cycles, counters).
//
// DRAM model (SPEC.md 6.3): the core issues at most one beat per cycle. A read beat issued in
// cycle c reads the image then and is returned to the core in cycle c+L; a write beat is
// written into the image in cycle c and acknowledged in cycle c+L. Bandwidth and arbitration
// are the core's (its bus arbiter issues one beat per cycle).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "Vvdla_core.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include "vdla_params.h"

namespace {

constexpr int kCounters = 40;
constexpr int kEvents = 7;  // F Q S R G X P

// Ports are CData/SData/IData/QData or VlWide depending on their width.
template <typename T>
void get_bytes(const T& sig, uint8_t* out, int n) {
  std::memcpy(out, &sig, n);
}
template <std::size_t W>
void get_bytes(const VlWide<W>& sig, uint8_t* out, int n) {
  std::memcpy(out, sig.data(), n);
}
template <typename T>
void set_bytes(T& sig, const uint8_t* in, int n) {
  T v = 0;
  std::memcpy(&v, in, n);
  sig = v;
}
template <std::size_t W>
void set_bytes(VlWide<W>& sig, const uint8_t* in, int n) {
  std::memset(sig.data(), 0, W * 4);
  std::memcpy(sig.data(), in, n);
}

bool read_file(const std::string& path, std::vector<uint8_t>& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

bool write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return false;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  return static_cast<bool>(f);
}

struct Slot {
  bool valid = false;
  bool write = false;
  uint8_t tag = 0;
  uint8_t data[VDLA_BUS_BYTES];
};

struct Job {
  std::string insns, dram, out, vcd;
  long latency = 32;
  unsigned long long max_cycles = 0;
};

class Bench {
 public:
  Bench() : ctx_(new VerilatedContext), top_(new Vvdla_core(ctx_.get(), "vdla")) {
#if VM_TRACE
    ctx_->traceEverOn(true);
#endif
  }

  int run(const Job& job) {
    std::vector<uint8_t> insn_bytes;
    if (!read_file(job.insns, insn_bytes) || !read_file(job.dram, dram_)) {
      std::fprintf(stderr, "vdla_sim: cannot read %s or %s\n", job.insns.c_str(),
                   job.dram.c_str());
      return 2;
    }
    const uint64_t n = insn_bytes.size() / 16;
    std::vector<int64_t> tl(n * kEvents, -1);
    std::vector<Slot> ring(job.latency > 0 ? job.latency : 1);
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
    if (!job.vcd.empty()) {
      vcd.reset(new VerilatedVcdC);
      top_->trace(vcd.get(), 99);
      vcd->open(job.vcd.c_str());
    }
#define DUMP(t) \
  if (vcd) vcd->dump(t)
#else
#define DUMP(t)
#endif
    Vvdla_core* top = top_.get();
    top->n_insns = static_cast<uint32_t>(n);
    top->rsp_valid = 0;
    top->wack_valid = 0;
    // reset: one clock edge clears every register and memory
    top->rst = 1;
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
    top->rst = 0;
    top->clk = 0;

    std::string status = "ok";
    std::string detail;
    uint64_t cycle = 0;
    const uint64_t L = ring.size();
    for (;; ++cycle) {
      Slot& s = ring[cycle % L];
      top->rsp_valid = s.valid && !s.write;
      top->wack_valid = s.valid && s.write;
      top->rsp_tag = s.tag;
      if (s.valid && !s.write) set_bytes(top->rsp_data, s.data, VDLA_BUS_BYTES);
      const uint64_t pc = top->insn_addr;
      if (pc < n) set_bytes(top->insn_data, &insn_bytes[pc * 16], 16);
      top->clk = 0;
      top->eval();
      DUMP(2 * cycle);
      if (top->done) break;
      if (top->stuck) {
        status = "deadlock";
        break;
      }
      if (job.max_cycles && cycle >= job.max_cycles) {
        status = "timeout";
        break;
      }
      if (top->ev_any) record(tl, n, cycle);
      s.valid = top->dram_valid;
      if (s.valid) {
        s.write = top->dram_write;
        s.tag = top->dram_tag;
        const uint64_t addr = top->dram_addr;
        const unsigned nb = top->dram_nbytes;
        if (addr + nb > dram_.size()) {
          status = "dram_error";
          std::ostringstream m;
          m << "beat at cycle " << cycle << " accesses bytes [" << addr << ", " << addr + nb
            << ") outside the DRAM image of " << dram_.size() << " bytes";
          detail = m.str();
          break;
        }
        if (s.write) {
          uint8_t buf[VDLA_BUS_BYTES];
          get_bytes(top->dram_wdata, buf, VDLA_BUS_BYTES);
          std::memcpy(&dram_[addr], buf, nb);
        } else {
          std::memset(s.data, 0, VDLA_BUS_BYTES);
          std::memcpy(s.data, &dram_[addr], nb);
        }
      }
      top->clk = 1;
      top->eval();
      DUMP(2 * cycle + 1);
    }
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    uint64_t counters[kCounters];
    for (int i = 0; i < kCounters; ++i) {
      top->sel = i;
      top->eval();
      counters[i] = top->sel_val;
    }
    top->sel = 0;
    if (!write_file(job.out + ".dram", dram_.data(), dram_.size()) ||
        !write_file(job.out + ".timeline", tl.data(), tl.size() * sizeof(int64_t))) {
      std::fprintf(stderr, "vdla_sim: cannot write %s.*\n", job.out.c_str());
      return 2;
    }
    std::ostringstream js;
    js << "{\"status\": \"" << status << "\", \"detail\": \"" << detail
       << "\", \"cycles\": " << cycle << ", \"counters\": [";
    for (int i = 0; i < kCounters; ++i) js << (i ? ", " : "") << counters[i];
    js << "]}\n";
    const std::string text = js.str();
    if (!write_file(job.out + ".json", text.data(), text.size())) return 2;
    return 0;
  }

 private:
  void record(std::vector<int64_t>& tl, uint64_t n, uint64_t cycle) {
    Vvdla_core* top = top_.get();
    auto put = [&](uint64_t insn, int ev) {
      if (insn < n) tl[insn * kEvents + ev] = static_cast<int64_t>(cycle);
    };
    if (top->ev_fetch) put(top->insn_addr, 0);
    const uint64_t tags[3] = {top->tag_load, top->tag_compute, top->tag_store};
    for (int m = 0; m < 3; ++m) {
      const unsigned bit = 1u << m;
      if (top->ev_deq & bit) put(tags[m], 1);
      if (top->ev_start & bit) put(tags[m], 2);
      if (top->ev_req & bit) put(tags[m], 3);
      if (top->ev_gnt & bit) put(tags[m], 4);
      if (top->ev_last & bit) put(tags[m], 5);
      if (top->ev_push & bit) put(tags[m], 6);
    }
  }

  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Vvdla_core> top_;
  std::vector<uint8_t> dram_;
};

bool parse_job(const std::vector<std::string>& f, Job& job) {
  if (f.size() < 5) return false;
  job.insns = f[0];
  job.dram = f[1];
  job.out = f[2];
  job.latency = std::stol(f[3]);
  job.max_cycles = std::stoull(f[4]);
  if (f.size() > 5) job.vcd = f[5];
  return job.latency >= 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Job> jobs;
  if (argc == 3 && std::string(argv[1]) == "--batch") {
    std::ifstream f(argv[2]);
    if (!f) {
      std::fprintf(stderr, "vdla_sim: cannot read %s\n", argv[2]);
      return 2;
    }
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ss(line);
      std::vector<std::string> fields;
      for (std::string w; ss >> w;) fields.push_back(w);
      if (fields.empty()) continue;
      Job job;
      if (!parse_job(fields, job)) {
        std::fprintf(stderr, "vdla_sim: bad job line: %s\n", line.c_str());
        return 2;
      }
      jobs.push_back(job);
    }
  } else {
    std::vector<std::string> fields(argv + 1, argv + argc);
    Job job;
    if (!parse_job(fields, job)) {
      std::fprintf(stderr,
                   "usage: vdla_sim INSNS DRAM OUT LATENCY MAX_CYCLES [VCD] | --batch FILE\n");
      return 2;
    }
    jobs.push_back(job);
  }
  Bench bench;
  for (const Job& job : jobs) {
    const int rc = bench.run(job);
    if (rc) return rc;
    std::printf("done %s\n", job.out.c_str());
    std::fflush(stdout);
  }
  return 0;
}
