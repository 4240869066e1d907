// Several pipelines on worker threads, fed by one dispatching reader.
//
// The reader hashes each packet's IP address pair (never ports: fragments have none) so both
// directions of a flow and every fragment of a datagram reach the same worker, copies it into
// that worker's current batch and hands full batches over through a single-producer queue.
// Workers run their pipeline to completion and share nothing. What leaves a worker — findings and
// the compact transaction records for cross-flow analysis — goes through per-worker
// single-producer queues that the reader's thread drains; transaction records are merged by
// packet time before the aggregator sees them, so the verdicts do not depend on thread timing.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include <readerwriterqueue/readerwritercircularbuffer.h>

#include "analyzers/aggregator.h"
#include "analyzers/pipeline.h"
#include "dataplane/decode.h"
#include "dataplane/packet.h"

namespace frag53 {

// Packets copied out of a source's buffers for one worker.
struct PacketBatch {
    static constexpr size_t max_packets = 256;
    static constexpr size_t arena_bytes = 1u << 20;  // > the largest snap length libpcap allows

    PacketBatch();
    bool fits(size_t n) const noexcept { return views.size() < max_packets && n <= arena.size() - used; }
    void add(const PacketView& p) noexcept;
    void clear() noexcept;

    std::vector<std::byte> arena;
    size_t used = 0;
    std::vector<PacketView> views;
    uint64_t tick_ts = 0;  // packet time the worker reaches after the packets (0: none)
    bool end = false;      // the last batch: finish the pipeline
};

// A worker's counters as last published (once per batch), readable from the reader thread.
struct WorkerGauges {
    uint64_t packets = 0, bytes = 0, dns_udp = 0, dns_tcp = 0, pending = 0, pending_evicted = 0;
};

struct WorkerPoolCounters {
    uint64_t records_dropped = 0;  // transaction records lost to a full queue (never waited on)
    uint64_t ticks = 0;            // time advances sent to idle workers
    std::vector<uint64_t> packets_per_worker;
};

class WorkerPool {
public:
    // `sink` and `records` are used on the calling (reader) thread only.
    WorkerPool(size_t workers, const PipelineConfig& config, FindingSink& sink,
               TransactionRecordSink* records);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Reader: spreads a burst over the workers (the views may be released afterwards).
    void dispatch(std::span<const PacketView> burst);
    // End of input: every pipeline finishes, the threads are joined, everything is drained.
    void finish();

    size_t workers() const noexcept { return workers_.size(); }
    PipelineCounters counters() const;  // summed over the workers
    size_t pending_capacity() const noexcept;  // per worker, as configured
    const WorkerPoolCounters& pool_counters() const noexcept { return pool_counters_; }
    // Summed over the workers' last published gauges, plus packets per worker.
    WorkerGauges gauges(std::vector<uint64_t>* per_worker = nullptr) const;

private:
    struct Record {
        enum class Kind : uint8_t { query, outcome, material } kind = Kind::query;
        uint64_t ts_ns = 0;
        QueryRecord query;
        OutcomeRecord outcome;
        ResponseMaterial material;
    };
    class FindingQueue;
    class RecordQueue;
    struct Worker;

    void run(Worker& w);
    PacketBatch* take_batch(Worker& w);
    void send(Worker& w);
    void poll(bool all);
    void settle();  // every dispatched batch processed and every record merged
    void merge_records(bool all);

    PipelineConfig config_;
    FindingSink& sink_;
    TransactionRecordSink* records_;
    std::vector<std::unique_ptr<Worker>> workers_;
    uint64_t reader_ts_ = 0;
    uint64_t time_jumps_ = 0;  // seen by the reader, which sees every packet
    WorkerPoolCounters pool_counters_;
    bool finished_ = false;
};

}  // namespace frag53
