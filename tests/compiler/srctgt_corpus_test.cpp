// The .srctgt corpus (tests/data/equiv): every file parses, and the concrete interpreter agrees
// with its expected verdict as far as random testing can tell. An `equivalent` pair may not be
// told apart by any input tried; a `not-equivalent` pair is counted as separated or not (random
// inputs may miss the one input that differs), and its witness packet, when it gives one, must
// separate it.
#include <linux/bpf.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "compiler/asm_module.hpp"
#include "compiler/context.hpp"
#include "compiler/error.hpp"
#include "compiler/hex.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"

using namespace tristate;
namespace fs = std::filesystem;

namespace {

constexpr int kRandomInputs = 300;
constexpr uint64_t kSeed = 0x5eed'0f'c0'4b05;
constexpr std::size_t kMaxPacket = 3520;

std::vector<fs::path> corpus_files() {
  const char* src = std::getenv("TRISTATE_SOURCE_DIR");
  if (!src || !*src) FAIL("TRISTATE_SOURCE_DIR is not set");
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(src) / "tests/data/equiv"))
    if (e.path().extension() == ".srctgt") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// One input: what both programs are given.
struct Input {
  Bytes packet;
  Bytes ctx;
  std::vector<MapContents> seeds;  // one per map, applied in order
  Environment env;
};

// What one run leaves that the comparison looks at.
struct Outcome {
  std::optional<std::string> fault;
  uint64_t r0 = 0;
  Bytes packet, ctx;
  std::vector<std::string> trace;
  std::optional<Redirect> redirect;
  std::vector<MapContents> maps;
};

std::string hex(std::span<const uint8_t> b) { return to_hex(b); }

std::string describe(const Outcome& o) {
  if (o.fault) return "fault: " + *o.fault;
  std::string s = "r0=" + std::to_string(o.r0) + " (0x" + hex(std::span(reinterpret_cast<const uint8_t*>(&o.r0), 8)) +
                  " le) packet=" + hex(o.packet);
  for (const auto& t : o.trace) s += " trace='" + t + "'";
  if (o.redirect)
    s += " redirect(ifindex=" + std::to_string(o.redirect->ifindex) + " map=" + std::to_string(o.redirect->map) +
         " key=" + std::to_string(o.redirect->key) + " flags=" + std::to_string(o.redirect->flags) + ")";
  for (const auto& m : o.maps) {
    s += " " + m.name + "={";
    for (const auto& e : m.entries) {
      s += hex(e.key) + ":";
      for (const auto& v : e.values) s += hex(v) + ",";
    }
    for (const auto& r : m.records) s += "rec:" + hex(r) + ",";
    s += "}";
  }
  return s;
}

// Where two outcomes differ, or empty. Two faulting runs are alike: the kernel refuses both.
std::string difference(const Outcome& a, const Outcome& b) {
  if (a.fault || b.fault) return a.fault && b.fault ? "" : "fault";
  if (a.r0 != b.r0) return "r0";
  if (a.packet != b.packet) return "packet";
  if (a.ctx != b.ctx) return "ctx";
  if (a.trace != b.trace) return "trace";
  if (a.redirect.has_value() != b.redirect.has_value()) return "redirect";
  if (a.redirect && (a.redirect->ifindex != b.redirect->ifindex || a.redirect->map != b.redirect->map ||
                     a.redirect->key != b.redirect->key || a.redirect->flags != b.redirect->flags))
    return "redirect";
  if (a.maps != b.maps) return "maps";
  return "";
}

// One side of a pair: its interpreter and maps, reused for every input.
class Side {
 public:
  explicit Side(const Module& m) : maps_(m.maps, 1), interp_(m, maps_) {}
  CtxModel model() const { return interp_.ctx_model(0); }

  // Seeds the maps entry by entry as `in` says; the entries that map refuses (a full map, a
  // key out of range) are left out of `accepted`, which the other side is then seeded with.
  void seed(const std::vector<MapContents>& seeds, std::vector<MapContents>* accepted) {
    for (std::size_t i = 0; i < maps_.size(); ++i) maps_[i].clear();
    for (std::size_t i = 0; i < seeds.size() && i < maps_.size(); ++i) {
      MapContents ok{seeds[i].name, {}, {}};
      for (const MapEntry& e : seeds[i].entries) {
        try {
          maps_[i].seed({seeds[i].name, {e}, {}});
          ok.entries.push_back(e);
        } catch (const InputError&) {
        }
      }
      if (accepted) accepted->push_back(std::move(ok));
    }
  }

  // nullopt when the input is one the kernel's test run refuses.
  std::optional<Outcome> run(const Input& in) {
    PacketResult r;
    try {
      interp_.run(0, RunInput{in.packet, in.ctx}, in.env, {}, r);
    } catch (const InputError&) {
      return std::nullopt;
    }
    Outcome o;
    if (r.fault) o.fault = "insn " + std::to_string(r.fault->insn) + ": " + r.fault->reason;
    o.r0 = r.r0;
    o.packet = r.packet;
    o.ctx = r.ctx;
    o.trace = r.trace;
    o.redirect = r.redirect;
    o.maps = maps_.dump();
    return o;
  }

 private:
  MapSet maps_;
  Interpreter interp_;
};

class InputMaker {
 public:
  InputMaker(uint64_t seed, const Module& m, CtxModel model) : rng_(seed), module_(m), model_(model) {}

  Input make() {
    Input in;
    in.packet = packet();
    if (chance(0.3)) in.ctx = ctx();
    if (!chance(0.2))
      for (const MapDef& d : module_.maps) in.seeds.push_back(seed(d));
    in.env.prandom_seed = rng_();
    in.env.ktime_ns = rng_() >> uint32_t(rng_() % 64);
    in.env.ktime_step_ns = chance(0.5) ? 0 : rng_() % 1000;
    return in;
  }

 private:
  std::mt19937_64 rng_;
  const Module& module_;
  CtxModel model_;

  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::size_t between(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_); }

  // Bytes a program is likely to test for: zeros, all ones, small numbers, and random ones.
  uint8_t byte() {
    const std::size_t k = between(0, 9);
    if (k < 6) return uint8_t(rng_());
    if (k < 8) return 0;
    if (k < 9) return 0xff;
    return uint8_t(between(1, 3));
  }
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = byte();
    return b;
  }

  Bytes packet() {
    const std::size_t k = between(0, 9);
    std::size_t len = k < 3 ? between(14, 63) : k < 7 ? between(64, 127) : k < 9 ? between(128, 600) : between(601, kMaxPacket);
    Bytes p = bytes(len);
    // An IPv4 or IPv6 frame often, with its network header whole (an skb test run wants it).
    const std::size_t e = between(0, 9);
    if (e < 5 && len >= 34) {
      p[12] = 0x08, p[13] = 0x00, p[14] = 0x45;
      p[23] = chance(0.5) ? 6 : 17;
    } else if (e < 6 && len >= 54) {
      p[12] = 0x86, p[13] = 0xdd, p[14] = 0x60;
    } else if ((p[12] == 0x08 && p[13] == 0x00) || (p[12] == 0x86 && p[13] == 0xdd)) {
      p[13] = 0x01;
    }
    return p;
  }

  Bytes ctx() {
    Bytes c(ctx_size(model_), 0);
    for (const CtxField& f : ctx_fields(model_)) {
      if (!f.user_settable || !chance(0.5)) continue;
      const uint64_t v = chance(0.5) ? between(0, 7) : rng_();
      std::memcpy(c.data() + f.offset, &v, std::min<std::size_t>(f.size, 8));
    }
    return c;
  }

  // A key as programs build them: mostly a small number in the first bytes, sometimes random.
  Bytes key(std::size_t n) {
    if (chance(0.3)) return bytes(n);
    Bytes k(n, 0);
    const uint32_t v = uint32_t(between(0, 7));
    std::memcpy(k.data(), &v, std::min<std::size_t>(n, 4));
    return k;
  }

  MapContents seed(const MapDef& d) {
    MapContents c{d.name, {}, {}};
    const auto value = [&] { return bytes(d.value_size); };
    switch (d.type) {
      case BPF_MAP_TYPE_ARRAY:
      case BPF_MAP_TYPE_PERCPU_ARRAY:
        for (uint32_t i = 0; i < std::min<uint32_t>(d.max_entries, 16); ++i)
          if (chance(0.7)) {
            Bytes k(4);
            std::memcpy(k.data(), &i, 4);
            c.entries.push_back({k, {value()}});
          }
        break;
      case BPF_MAP_TYPE_HASH:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        for (std::size_t i = between(0, std::min<std::size_t>(d.max_entries, 8)); i > 0; --i)
          c.entries.push_back({key(d.key_size), {value()}});
        break;
      case BPF_MAP_TYPE_LPM_TRIE:
        for (std::size_t i = between(0, 4); i > 0; --i) {
          Bytes k = bytes(d.key_size);
          const uint32_t len = uint32_t(between(0, (d.key_size - 4) * 8));
          std::memcpy(k.data(), &len, 4);
          c.entries.push_back({k, {value()}});
        }
        break;
      case BPF_MAP_TYPE_DEVMAP:
      case BPF_MAP_TYPE_DEVMAP_HASH:
        for (uint32_t i = 0; i < std::min<uint32_t>(d.max_entries, 8); ++i)
          if (chance(0.5)) {
            Bytes k(4), v(d.value_size, 0);
            std::memcpy(k.data(), &i, 4);
            v[0] = uint8_t(between(1, 4));  // an ifindex
            c.entries.push_back({k, {v}});
          }
        break;
      default: break;  // prog arrays, ring buffers, ...: empty
    }
    return c;
  }
};

struct Tally {
  std::size_t done = 0;
  // not-equivalent pairs: separated by random inputs, only by their witness, by neither
  std::vector<std::string> separated, by_witness_only, not_separated, unknown_separated;
  bool printed = false;
};

void check_pair(const fs::path& path, std::size_t index, Tally& tally) {
  const SrcTgt st = read_srctgt(path.string());
  CHECK_FALSE(st.description.empty());
  Side src(st.src), tgt(st.tgt);
  const std::string name = path.filename().string();

  std::size_t differing = 0, compared = 0, src_clean = 0;
  std::string first_difference;
  const auto compare = [&](const Input& in, std::string* why) {
    std::vector<MapContents> accepted;
    src.seed(in.seeds, &accepted);
    tgt.seed(accepted, nullptr);
    const auto a = src.run(in), b = tgt.run(in);
    if (!a || !b) {
      CHECK(a.has_value() == b.has_value());  // both see the same input
      return false;
    }
    ++compared;
    if (!a->fault) ++src_clean;
    const std::string d = difference(*a, *b);
    if (d.empty()) return false;
    if (why)
      *why = d + " differs on packet " + hex(in.packet) + (in.ctx.empty() ? "" : " ctx " + hex(in.ctx)) + "\n  src: " + describe(*a) +
             "\n  tgt: " + describe(*b);
    return true;
  };

  InputMaker maker(kSeed + index, st.src, src.model());
  // The plainest input first: empty maps, a zeroed packet of the smallest size.
  Input plain;
  plain.packet = Bytes(64, 0);
  for (int i = 0; i < kRandomInputs + 1; ++i) {
    const Input in = i == 0 ? plain : maker.make();
    std::string why;
    if (compare(in, first_difference.empty() ? &why : nullptr)) {
      ++differing;
      if (first_difference.empty()) first_difference = why;
      if (st.expect == "not-equivalent") break;  // separated: enough
    }
  }
  INFO(name << ": " << st.description << " (seed " << kSeed + index << ")");
  CHECK(compared > 0);
  CHECK(src_clean > 0);  // src does something on some input, so the pair tests something

  bool witnessed = false;
  if (st.witness) {
    Input w;
    w.packet = st.witness->packet;
    std::string why;
    INFO("the witness packet " << hex(w.packet));
    witnessed = compare(w, &why);
    CHECK(witnessed);
  }
  if (st.expect == "equivalent") {
    INFO(first_difference);
    CHECK(differing == 0);
  } else if (st.expect == "not-equivalent") {
    (differing > 0 ? tally.separated : witnessed ? tally.by_witness_only : tally.not_separated).push_back(name);
  } else if (differing > 0) {
    tally.unknown_separated.push_back(name);
  }

  // Each side alone is deterministic: the same input twice, with the maps seeded afresh, gives
  // the same outcome (a check on the harness's seeding and resetting as much as on the programs).
  for (Side* side : {&src, &tgt}) {
    const Input in = maker.make();
    std::vector<MapContents> accepted;
    side->seed(in.seeds, &accepted);
    const auto a = side->run(in);
    side->seed(accepted, nullptr);
    const auto b = side->run(in);
    REQUIRE(a.has_value() == b.has_value());
    if (a) CHECK(difference(*a, *b).empty());
  }
}

}  // namespace

TEST_CASE("srctgt corpus: enough files, every instruction class, every file parses") {
  const auto files = corpus_files();
  CHECK(files.size() >= 150);
  const std::set<std::string> classes = {"alu64", "alu32", "shift", "div", "mod", "signed", "jmp", "jmp32",
                                         "endian", "movsx", "ldx", "st", "stack", "packet", "bounds", "ctx",
                                         "map", "helper", "atomic", "call", "loop", "ldabs", "ld_imm64"};
  std::map<std::string, std::size_t> per_class;
  std::map<std::string, std::size_t> per_verdict;
  for (const auto& f : files) {
    const std::string stem = f.stem().string();
    // The longest class name the file's name starts with (jmp32_ before jmp_).
    std::string cls;
    for (const auto& c : classes)
      if (stem.starts_with(c + "_") && c.size() > cls.size()) cls = c;
    INFO(f.filename().string());
    CHECK_FALSE(cls.empty());
    ++per_class[cls];
    try {
      ++per_verdict[read_srctgt(f.string()).expect];
    } catch (const InputError& e) {
      FAIL_CHECK(e.what());
    }
  }
  for (const auto& c : classes) {
    INFO("class " << c);
    CHECK(per_class[c] > 0);
  }
  std::string summary;
  for (const auto& [c, n] : per_class) summary += " " + c + "=" + std::to_string(n);
  summary += "; verdicts:";
  for (const auto& [v, n] : per_verdict) summary += " " + v + "=" + std::to_string(n);
  WARN(files.size() << " pairs; classes:" << summary);
}

TEST_CASE("srctgt corpus: the interpreter never separates an equivalent pair") {
  static const std::vector<fs::path> files = corpus_files();
  static Tally tally;
  for (std::size_t i = 0; i < files.size(); ++i) {
    DYNAMIC_SECTION(files[i].filename().string()) {
      check_pair(files[i], i, tally);
      ++tally.done;
    }
  }
  if (tally.done == files.size() && !tally.printed) {
    tally.printed = true;
    const auto names = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& n : v) out += " " + n;
      return out;
    };
    const std::size_t total = tally.separated.size() + tally.by_witness_only.size() + tally.not_separated.size();
    WARN("not-equivalent pairs the interpreter separates: " << tally.separated.size() << " of " << total
         << " on random inputs, " << tally.by_witness_only.size() << " more only on their witness packet:"
         << names(tally.by_witness_only)
         << (tally.not_separated.empty() ? "" : "; separated by neither:" + names(tally.not_separated))
         << (tally.unknown_separated.empty() ? "" : "; unknown pairs separated:" + names(tally.unknown_separated)));
  }
}
