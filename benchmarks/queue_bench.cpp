// Cost of a queue operation (issue 9: "a queue operation in tens of cycles"), in TSC cycles
// (counter `cycles/op`) and ns. One operation is one enqueue or one dequeue of one descriptor;
// batched benchmarks divide by the descriptors moved.
//  - loopback / ring, same thread: enqueue then dequeue on an empty queue (the ring's cached
//    indices stay warm: this is the floor of the interface);
//  - checked: the same with the ownership-checking layer on (one interval-map update per op);
//  - ring, two threads: a producer on this thread, a consumer on another core returning nothing,
//    so the indices' cache lines move between cores (the cost a pipeline pays); here cycles/op
//    is wall cycles per descriptor moved (its enqueue and its dequeue overlap).
// Run: build/benchmarks/queue_bench   (pin with taskset -c 0,1 to keep the two threads apart)
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <atomic>
#include <thread>
#include <vector>

#include "datapath/checked.hpp"
#include "datapath/loopback.hpp"
#include "datapath/ring.hpp"

using namespace tristate::datapath;

namespace {

constexpr uint32_t kBufferSize = 2048;

void report_cycles(benchmark::State& state, uint64_t cycles, uint64_t ops) {
  state.counters["cycles/op"] = benchmark::Counter(static_cast<double>(cycles) / static_cast<double>(ops));
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

// Enqueue and dequeue one descriptor (or a batch) on a queue whose both ends are this thread.
void round_trip(benchmark::State& state, Queue& send, Queue& receive, RegionId id, std::size_t batch) {
  std::vector<Buffer> out(batch), in(batch);
  for (std::size_t i = 0; i < batch; ++i) out[i] = Buffer{.region = id, .offset = i * kBufferSize, .length = kBufferSize};
  uint64_t ops = 0;
  uint64_t start = __rdtsc();
  for (auto _ : state) {
    if (batch == 1) {
      benchmark::DoNotOptimize(send.enqueue(out[0]));
      Dequeued d = receive.dequeue();
      benchmark::DoNotOptimize(d);
      // Hand it back so the checked variants stay legal (the loopback's receiver is the sender).
      if (&send != &receive) {
        receive.enqueue(d.buffer);
        benchmark::DoNotOptimize(send.dequeue());
        ops += 2;
      }
    } else {
      benchmark::DoNotOptimize(send.enqueue_batch(out));
      benchmark::DoNotOptimize(receive.dequeue_batch(in));
      if (&send != &receive) {
        receive.enqueue_batch(in);
        send.dequeue_batch(out);
        ops += 2 * batch;
      }
    }
    ops += 2 * batch;
  }
  report_cycles(state, __rdtsc() - start, ops);
}

void BM_loopback(benchmark::State& state) {
  LoopbackQueue q(64);
  std::vector<uint8_t> memory(64 * kBufferSize);
  RegionId id = q.register_region(memory).id;
  round_trip(state, q, q, id, static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_loopback)->Arg(1)->Arg(32);

void BM_loopback_checked(benchmark::State& state) {
  LoopbackQueue loop(64);
  CheckedQueue q(loop);
  std::vector<uint8_t> memory(64 * kBufferSize);
  RegionId id = q.register_region(memory).id;
  round_trip(state, q, q, id, static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_loopback_checked)->Arg(1)->Arg(32);

void BM_ring_same_thread(benchmark::State& state) {
  RingChannel channel(64);
  std::vector<uint8_t> memory(64 * kBufferSize);
  RegionId id = channel.side(0).register_region(memory).id;
  round_trip(state, channel.side(0), channel.side(1), id, static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_ring_same_thread)->Arg(1)->Arg(32);

void BM_ring_same_thread_checked(benchmark::State& state) {
  RingChannel channel(64);
  CheckedQueue a(channel.side(0)), b(channel.side(1));
  std::vector<uint8_t> memory(64 * kBufferSize);
  RegionId id = a.register_region(memory).id;
  round_trip(state, a, b, id, static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_ring_same_thread_checked)->Arg(1)->Arg(32);

// Producer here, consumer on another thread: cycles per descriptor moved across cores.
void BM_ring_two_threads(benchmark::State& state) {
  const std::size_t batch = static_cast<std::size_t>(state.range(0));
  RingChannel channel(1024);
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    std::vector<Buffer> in(batch);
    Queue& b = channel.side(1);
    while (!stop.load(std::memory_order_relaxed)) benchmark::DoNotOptimize(b.dequeue_batch(in));
  });
  std::vector<Buffer> out(batch, Buffer{.region = 1, .length = kBufferSize});
  Queue& a = channel.side(0);
  uint64_t moved = 0;
  uint64_t start = __rdtsc();
  for (auto _ : state) moved += batch == 1 ? (a.enqueue(out[0]) == Status::Ok) : a.enqueue_batch(out).done;
  uint64_t cycles = __rdtsc() - start;
  stop = true;
  consumer.join();
  // Wall cycles per descriptor moved: its enqueue here and its dequeue there run in parallel.
  report_cycles(state, cycles, moved ? moved : 1);
  state.counters["moved"] = static_cast<double>(moved);
}
BENCHMARK(BM_ring_two_threads)->Arg(1)->Arg(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
