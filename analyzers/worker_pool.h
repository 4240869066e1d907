// Several pipelines on worker threads, fed by one dispatching reader.
//
// The reader hashes each packet's IP address pair (never ports: fragments have none) so both
// directions of a flow and every fragment of a datagram reach the same worker, copies it into
// that worker's current batch and hands full batches over through a single-producer queue.
// Workers run their pipeline to completion and share nothing. What leaves a worker — findings and
// the compact transaction records for cross-flow analysis — goes through per-worker
// single-producer queues that the reader's thread drains; transaction records are merged by
// packet time before the aggregator sees them, so the verdicts do not depend on thread timing.
//
// Polled mode: when the NIC already spreads packets by the same symmetric address-pair hash
// (RSS), each worker polls its own RX queues and analyzes the packets where they lie; the
// calling thread only takes what the workers produce (service()) and merges it.
//
// Replay mode: the same for a recording. Every worker reads all of it and analyzes its share of
// address pairs (ReplayShard); the time of the other packets still reaches its pipeline, so
// timeouts fire where one pipeline's would. A worker may run ahead of the slowest by a bounded
// number of frames. Records carry the timeline they belong to (a recording made of captures that
// are not one continuous time line jumps back), so the merge needs no barrier at a jump.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <variant>
#include <vector>

#include <readerwriterqueue/readerwritercircularbuffer.h>

#include "analyzers/aggregator.h"
#include "analyzers/pipeline.h"
#include "dataplane/capture_source.h"
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
    uint64_t records_dropped = 0;  // transaction records lost to a full queue (dispatch, polled)
    uint64_t records_waited = 0;   // replay mode: a worker waited for room in its record queue
    uint64_t ticks = 0;            // time advances sent to idle workers
    std::vector<uint64_t> packets_per_worker;
};

class WorkerPool {
public:
    // `sink` and `records` are used on the calling (reader) thread only.
    WorkerPool(size_t workers, const PipelineConfig& config, FindingSink& sink,
               TransactionRecordSink* records);
    // Polled mode: worker i polls sources[i] (one worker per element; the sources outlive the
    // pool and are used by that worker's thread only). Record merging assumes each source
    // delivers packets in time order, as a NIC queue stamped on arrival or a recording does.
    WorkerPool(std::vector<std::vector<PolledSource*>> sources, const PipelineConfig& config,
               FindingSink& sink, TransactionRecordSink* records);
    // Replay mode: worker i reads shards[i], a recording that every worker reads whole, and
    // analyzes its share (the shards outlive the pool). The workers run as fast as they can but
    // no further than `max_lead_frames` frames ahead of the slowest one, which bounds the
    // records waiting for the merge. service() every millisecond or so until input_done().
    // `record_queue` (a power of two) is what each worker's record ring holds: a full one makes
    // the worker wait, so the merge always gets every record.
    WorkerPool(std::vector<ReplayShard*> shards, const PipelineConfig& config, FindingSink& sink,
               TransactionRecordSink* records, uint64_t max_lead_frames = default_max_lead_frames,
               size_t record_queue = default_replay_record_queue);
    // A worker's rings are touched whole as they cycle, and every first touch of a page zeroes
    // it: with a lead of 16,384 frames and rings to match (6 MB of records and 5.5 MB of findings
    // per worker), zeroing pages was 13 % of a two-worker run. 4,096 frames took -j 2 from 0.322
    // to 0.305 s and from 0.56 to 0.51 s of CPU on the comparison capture.
    static constexpr uint64_t default_max_lead_frames = 4096;
    // About one record per frame the workers may be apart.
    static constexpr size_t default_replay_record_queue = size_t{1} << 12;
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Reader: spreads a burst over the workers (the views may be released afterwards).
    void dispatch(std::span<const PacketView> burst);
    // Reader, between bursts or while idle: takes the workers' findings and records (and, in
    // dispatch mode, lets idle workers see time pass). Polled mode needs it every millisecond
    // or so: a worker waits when its finding queue is full.
    // Returns whether it took anything.
    bool service();
    // End of input (dispatch mode) or of capture (polled mode: the workers stop polling, each is
    // brought to the latest packet time any of them reached): every pipeline finishes, the
    // threads are joined, everything is drained.
    void finish();
    bool polled() const noexcept { return polled_; }
    // Replay mode: every worker has read all of its shard (finish() may come now).
    bool input_done() const noexcept;

    size_t workers() const noexcept { return workers_.size(); }
    PipelineCounters counters() const;  // summed over the workers
    size_t pending_capacity() const noexcept;  // per worker, as configured
    const WorkerPoolCounters& pool_counters() const noexcept { return pool_counters_; }
    // Summed over the workers' last published gauges, plus packets per worker.
    WorkerGauges gauges(std::vector<uint64_t>* per_worker = nullptr) const;

private:
    // One record on its way to the merge: only the alternative it is takes room (a query and
    // an outcome each carry a name; a record holding all three kinds was twice the size).
    struct Record {
        uint64_t ts_ns = 0;
        // Polled and replay modes: the timeline the record belongs to (the worker's pipeline
        // counts time jumps back); records of an earlier timeline are merged first.
        uint64_t epoch = 0;
        std::variant<QueryRecord, OutcomeRecord, ResponseMaterial> body;
    };
    class FindingQueue;
    class RecordQueue;
    struct Worker;

    void start();
    void run(Worker& w);
    void run_polled(Worker& w);
    void run_replay(Worker& w);
    void end_polling(Worker& w, uint64_t reached);
    uint64_t slowest_frame() const noexcept;
    void publish(Worker& w);
    uint64_t latest_reached() const noexcept;
    PacketBatch* take_batch(Worker& w);
    void send(Worker& w);
    bool poll(bool all);
    void settle();  // every dispatched batch processed and every record merged
    bool merge_records(bool all);

    PipelineConfig config_;
    FindingSink& sink_;
    TransactionRecordSink* records_;
    std::vector<std::unique_ptr<Worker>> workers_;
    uint64_t reader_ts_ = 0;
    uint64_t time_jumps_ = 0;  // seen by the reader, which sees every packet
    WorkerPoolCounters pool_counters_;
    bool finished_ = false;
    bool polled_ = false;
    bool replay_ = false;
    uint64_t max_lead_frames_ = default_max_lead_frames;
    // Polled mode: the reader tells the workers to stop polling, then when to finish and at
    // what packet time (finish_ts_ is written before finish_ is set).
    std::atomic<bool> stop_polling_{false};
    std::atomic<bool> finish_{false};
    std::atomic<uint64_t> finish_ts_{0};
};

}  // namespace frag53
