#include "analyzers/worker_pool.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>

#include "analyzers/spsc_ring.h"

namespace frag53 {

namespace {
constexpr size_t batches_per_worker = 16;
constexpr size_t finding_queue = 1024;  // 1.4 MB; a worker finds about 300 per millisecond
constexpr size_t record_queue = 1u << 16;
constexpr uint64_t tick_every_ns = 1'000'000'000ull;  // an idle worker's clock lags at most this
constexpr auto poll_interval = std::chrono::milliseconds(1);
// Polled mode: the burst a worker takes from one source, and how it idles. A queue found empty
// this many times in a row first lets packet time pass (timeouts), then the worker naps briefly
// between polls so an idle port does not hold a core; 20 us is well inside what a 1024-descriptor
// ring absorbs at 10 Mpps.
constexpr size_t polled_burst = 64;
constexpr unsigned idle_polls_before_tick = 256;
constexpr unsigned idle_polls_before_nap = 4096;
constexpr auto idle_nap = std::chrono::microseconds(20);
// A thread waiting for another yields a few times, then sleeps: spinning on sched_yield took 9 %
// of the CPU of a replay on two cores, where the thread waited for needs that CPU.
constexpr auto back_off_nap = std::chrono::microseconds(50);
// A replay worker a whole lead ahead of the slowest checks again after this.
constexpr auto ahead_nap = std::chrono::microseconds(200);
}  // namespace

PacketBatch::PacketBatch() : arena(arena_bytes) { views.reserve(max_packets); }

void PacketBatch::add(const PacketView& p) noexcept {
    const size_t n = p.data.size();
    std::memcpy(arena.data() + used, p.data.data(), n);
    PacketView v = p;
    v.data = Bytes{arena.data() + used, n};
    used += n;
    views.push_back(v);
}

void PacketBatch::clear() noexcept {
    used = 0;
    views.clear();
    tick_ts = 0;
    end = false;
}

namespace {
// A thread waiting for room in a ring: the consumer is on the other core or needs this one.
void back_off(unsigned& waits) {
    if (++waits < 4) std::this_thread::yield();
    else std::this_thread::sleep_for(back_off_nap);
}
}  // namespace

// Findings leave a worker through its own ring; when it is full the worker waits (findings
// are never dropped), and the reader drains findings whatever else it waits for, so neither
// side can block the other for good. The reader hands them on where they lie (a Finding is
// 1.3 KB: one copy, not two, and of its names only the used bytes).
class WorkerPool::FindingQueue final : public FindingSink {
public:
    FindingQueue() : q(finding_queue) {}
    void on_finding(const Finding& f) override {
        for (unsigned waits = 0; !q.try_push_with([&f](void* slot) { copy_finding_into(slot, f); });)
            back_off(waits);
    }
    SpscRing<Finding> q;
};

// Transaction records must not hold a live worker up: in dispatch and polled modes a full ring
// drops and counts; in replay mode, where there is no packet to lose, it waits (see push()).
class WorkerPool::RecordQueue final : public TransactionRecordSink {
public:
    explicit RecordQueue(size_t capacity) : q(capacity) {}
    void on_query(const QueryRecord& r) override { push(Record{r.ts_ns, epoch(), r}); }
    void on_outcome(const OutcomeRecord& r) override { push(Record{r.ts_ns, epoch(), r}); }
    void on_material(ResponseMaterial&& m) override {
        const uint64_t ts = m.ts_ns;
        push(Record{ts, epoch(), std::move(m)});
    }
    SpscRing<Record> q;
    std::atomic<uint64_t> dropped{0}, waited{0};
    // Polled and replay modes: the pipeline whose time jumps number the timelines (dispatch
    // mode settles the merge at a jump instead).
    const Pipeline* timeline = nullptr;
    // Replay mode: a full ring waits instead of dropping. The merge can empty it only up to the
    // worker's progress, so before waiting the worker publishes the earliest time any record
    // still to come can carry (`floor`, kept up to date per packet by the worker): that holds
    // even when the records filling the ring all come from the burst being analyzed.
    std::atomic<uint64_t>* progress_ts = nullptr;
    std::atomic<uint64_t>* progress_epoch = nullptr;
    uint64_t floor = 0;

private:
    uint64_t epoch() const noexcept { return timeline ? timeline->counters().time_jumps : 0; }
    void push(Record&& r) {
        if (q.try_emplace(std::move(r))) return;  // (only moved from when it went in)
        if (progress_ts == nullptr) {
            dropped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        waited.fetch_add(1, std::memory_order_relaxed);
        progress_ts->store(floor, std::memory_order_release);
        progress_epoch->store(epoch(), std::memory_order_release);
        for (unsigned waits = 0; !q.try_emplace(std::move(r));) back_off(waits);
    }
};

struct WorkerPool::Worker {
    // Batches only for dispatch mode: a polled or replay worker analyzes its sources' buffers in
    // place.
    Worker(const PipelineConfig& config, std::vector<PolledSource*> polled, ReplayShard* replay = nullptr,
           size_t replay_records = 0)
        : records(replay ? replay_records : record_queue), in(batches_per_worker + 1),
          free(batches_per_worker + 1), sources(std::move(polled)), shard(replay) {
        pipeline = std::make_unique<Pipeline>(config, findings);
        pipeline->set_record_sink(&records);
        if (shard != nullptr) {
            records.progress_ts = &reached_ts;
            records.progress_epoch = &reached_epoch;
        }
        if (!sources.empty() || shard != nullptr) {
            records.timeline = pipeline.get();
            return;
        }
        for (auto& b : batches) {
            b = std::make_unique<PacketBatch>();
            free.try_enqueue(b.get());
        }
    }
    FindingQueue findings;
    RecordQueue records;
    std::unique_ptr<Pipeline> pipeline;
    std::array<std::unique_ptr<PacketBatch>, batches_per_worker> batches;
    moodycamel::BlockingReaderWriterCircularBuffer<PacketBatch*> in, free;
    std::thread thread;
    // Worker -> reader progress: batches done, and the packet time they reached.
    std::atomic<uint64_t> completed{0};
    std::atomic<uint64_t> reached_ts{0};
    std::atomic<uint64_t> reached_epoch{0};  // polled and replay modes: reached_ts's timeline
    std::atomic<bool> done{false};
    std::vector<PolledSource*> sources;      // polled mode: what this worker polls
    std::atomic<bool> polling_done{false};   // polled mode: stopped polling, waits for finish
    ReplayShard* shard = nullptr;            // replay mode: what this worker reads
    // Replay mode: the frame number read last (all ones once the shard is exhausted), on a line
    // of its own as the other workers read it on every burst.
    struct alignas(64) {
        std::atomic<uint64_t> value{0};
    } read_frame;
    std::atomic<uint64_t> g_packets{0}, g_bytes{0}, g_dns_udp{0}, g_dns_tcp{0}, g_pending{0}, g_evicted{0};
    // Reader-side state.
    PacketBatch* current = nullptr;
    uint64_t dispatched = 0;
    uint64_t sent_ts = 0;
    uint64_t packets = 0;
    uint64_t progress_ts = 0;    // no record still to come from this worker is older than this
    uint64_t progress_epoch = 0; // ... on this timeline
    std::array<uint64_t, batches_per_worker + 1> inflight_min_ts{};  // by dispatch number
};

WorkerPool::WorkerPool(size_t workers, const PipelineConfig& config, FindingSink& sink,
                       TransactionRecordSink* records)
    : config_(config), sink_(sink), records_(records) {
    if (workers == 0) workers = 1;
    for (size_t i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>(config_, std::vector<PolledSource*>{}));
    start();
}

WorkerPool::WorkerPool(std::vector<std::vector<PolledSource*>> sources, const PipelineConfig& config,
                       FindingSink& sink, TransactionRecordSink* records)
    : config_(config), sink_(sink), records_(records), polled_(true) {
    for (auto& list : sources) {
        std::erase(list, nullptr);
        if (!list.empty()) workers_.push_back(std::make_unique<Worker>(config_, std::move(list)));
    }
    if (workers_.empty()) throw std::invalid_argument("WorkerPool: no source to poll");
    start();
}

WorkerPool::WorkerPool(std::vector<ReplayShard*> shards, const PipelineConfig& config, FindingSink& sink,
                       TransactionRecordSink* records, uint64_t max_lead_frames, size_t record_queue)
    : config_(config), sink_(sink), records_(records), polled_(true), replay_(true),
      max_lead_frames_(std::max<uint64_t>(max_lead_frames, 1)) {
    std::erase(shards, nullptr);
    for (ReplayShard* s : shards)
        workers_.push_back(std::make_unique<Worker>(config_, std::vector<PolledSource*>{}, s, record_queue));
    if (workers_.empty()) throw std::invalid_argument("WorkerPool: no shard to read");
    start();
}

void WorkerPool::start() {
    for (auto& w : workers_) {
        Worker* wp = w.get();
        if (replay_) w->thread = std::thread([this, wp] { run_replay(*wp); });
        else if (polled_) w->thread = std::thread([this, wp] { run_polled(*wp); });
        else w->thread = std::thread([this, wp] { run(*wp); });
    }
}

WorkerPool::~WorkerPool() {
    if (!finished_) finish();
}

void WorkerPool::run(Worker& w) {
    for (;;) {
        PacketBatch* b = nullptr;
        w.in.wait_dequeue(b);
        // The packet time this batch brings the worker to. Not a running maximum: after a jump
        // back in time (a new recording) the worker's time goes back too, and a maximum kept
        // from the old timeline would let the merge release other workers' records too early.
        uint64_t ts = b->views.empty() ? w.reached_ts.load(std::memory_order_relaxed) : b->views.back().ts_ns;
        w.pipeline->process(b->views);
        if (b->tick_ts > 0) {
            w.pipeline->advance_time(b->tick_ts);
            ts = std::max(ts, b->tick_ts);
        }
        const bool end = b->end;
        if (end) w.pipeline->finish();
        publish(w);
        b->clear();
        w.free.wait_enqueue(b);
        // Records of this batch are queued before the progress is published (release), so the
        // reader that sees the progress also sees them.
        w.reached_ts.store(ts, std::memory_order_release);
        w.completed.fetch_add(1, std::memory_order_release);
        if (end) {
            w.done.store(true, std::memory_order_release);
            return;
        }
    }
}

void WorkerPool::publish(Worker& w) {
    const PipelineCounters& c = w.pipeline->counters();
    w.g_packets.store(c.packets, std::memory_order_relaxed);
    w.g_bytes.store(c.bytes, std::memory_order_relaxed);
    w.g_dns_udp.store(c.dns_udp, std::memory_order_relaxed);
    w.g_dns_tcp.store(c.dns_tcp, std::memory_order_relaxed);
    w.g_pending.store(w.pipeline->pending(), std::memory_order_relaxed);
    w.g_evicted.store(c.pending_evicted, std::memory_order_relaxed);
}

uint64_t WorkerPool::latest_reached() const noexcept {
    uint64_t ts = 0;
    for (const auto& wp : workers_) ts = std::max(ts, wp->reached_ts.load(std::memory_order_acquire));
    return ts;
}

// A polled worker: its own queues, analyzed in place, records and findings out through its
// queues as in dispatch mode. `reached_ts` is its progress for the merge: records of a burst are
// queued before it moves past them, and a burst that starts earlier than it (a source not quite
// in time order) lowers it before the burst is analyzed.
void WorkerPool::run_polled(Worker& w) {
    std::array<PacketView, polled_burst> burst;
    uint64_t reached = 0;
    unsigned idle = 0;
    while (!stop_polling_.load(std::memory_order_acquire)) {
        bool any = false;
        for (PolledSource* src : w.sources) {
            const size_t n = src->poll(burst);
            if (n == 0) continue;
            any = true;
            uint64_t lo = burst[0].ts_ns;
            for (size_t i = 1; i < n; ++i) lo = std::min(lo, burst[i].ts_ns);
            if (lo < reached) w.reached_ts.store(lo, std::memory_order_release);
            w.pipeline->process({burst.data(), n});
            src->release({burst.data(), n});
            // The time the pipeline is at, as in dispatch mode not a running maximum. The time
            // before the timeline (the merge reads the timeline first, then the time).
            reached = burst[n - 1].ts_ns;
            w.reached_ts.store(reached, std::memory_order_release);
            w.reached_epoch.store(w.pipeline->counters().time_jumps, std::memory_order_release);
            w.completed.fetch_add(1, std::memory_order_release);
            publish(w);
        }
        if (any) {
            idle = 0;
            continue;
        }
        if (++idle % idle_polls_before_tick == 0) {
            // Nothing arrives: time still passes for this worker's timeouts, as the NIC clock
            // says or, for a replay without a "now", as far as the other workers got (a replay
            // queue is only empty once its recording is exhausted).
            uint64_t now = 0;
            for (PolledSource* src : w.sources) now = std::max(now, src->clock_now_ns());
            if (now == 0) now = latest_reached();
            if (now > reached) {
                w.pipeline->advance_time(now);
                reached = now;
                w.reached_ts.store(reached, std::memory_order_release);
            }
            publish(w);
        }
        if (idle >= idle_polls_before_nap) std::this_thread::sleep_for(idle_nap);
    }
    end_polling(w, reached);
}

// The frame the slowest replay worker has read up to.
uint64_t WorkerPool::slowest_frame() const noexcept {
    uint64_t f = std::numeric_limits<uint64_t>::max();
    for (const auto& wp : workers_) f = std::min(f, wp->read_frame.value.load(std::memory_order_acquire));
    return f;
}

// A replay worker: reads its shard, analyzes its own packets and lets the others' time pass
// (advance_time is what a pipeline does first for every packet), publishes its progress after
// every burst. It waits only when it is max_lead_frames_ ahead of the slowest worker, which
// itself never waits, so the workers cannot all wait.
void WorkerPool::run_replay(Worker& w) {
    std::array<PacketView, polled_burst> burst;
    std::array<bool, polled_burst> mine;
    std::array<uint64_t, polled_burst> floor;
    Pipeline& pipeline = *w.pipeline;
    uint64_t reached = 0;
    while (!stop_polling_.load(std::memory_order_acquire)) {
        const uint64_t slowest = slowest_frame();
        const uint64_t max_frame = slowest > std::numeric_limits<uint64_t>::max() - max_lead_frames_
                                       ? std::numeric_limits<uint64_t>::max()
                                       : slowest + max_lead_frames_;
        ReplayShard::Stop why = ReplayShard::Stop::full;
        const size_t n = w.shard->next(burst, mine, max_frame, why);
        if (n > 0) {
            // A packet older than the progress already published (a capture slightly out of
            // order) lowers it before its records exist.
            uint64_t lo = reached;
            for (size_t i = 0; i < n; ++i)
                if (mine[i]) lo = std::min(lo, burst[i].ts_ns);
            if (lo < reached) w.reached_ts.store(lo, std::memory_order_release);
            // The earliest time a record can carry from packet i on: packet i's own (records of a
            // timeout carry the pipeline's time, which is no earlier), or that of a later packet
            // of this worker's that is out of order.
            uint64_t later = std::numeric_limits<uint64_t>::max();
            for (size_t i = n; i-- > 0;) {
                floor[i] = std::min(later, burst[i].ts_ns);
                if (mine[i]) later = std::min(later, burst[i].ts_ns);
            }
            for (size_t i = 0; i < n; ++i) {
                w.records.floor = floor[i];
                if (mine[i]) pipeline.process_packet(burst[i]);
                else pipeline.advance_time(burst[i].ts_ns);
            }
            w.shard->release({burst.data(), n});
            reached = burst[n - 1].ts_ns;
            w.reached_ts.store(reached, std::memory_order_release);
            w.reached_epoch.store(pipeline.counters().time_jumps, std::memory_order_release);
            w.read_frame.value.store(burst[n - 1].frame, std::memory_order_release);
            w.completed.fetch_add(1, std::memory_order_release);
            publish(w);
        }
        if (why == ReplayShard::Stop::end) break;
        if (why == ReplayShard::Stop::ahead) {
            // Ahead by the whole lead: sleep until the slowest worker is within half of it, so
            // a worker that is faster (or has a core to itself) wakes a few times per lead, not
            // for every frame the others read. Wake-ups are what costs here: a context switch
            // on a virtual machine takes tens of microseconds.
            const uint64_t at = w.read_frame.value.load(std::memory_order_relaxed);
            while (!stop_polling_.load(std::memory_order_acquire)) {
                std::this_thread::sleep_for(ahead_nap);
                const uint64_t behind = slowest_frame();
                if (behind == std::numeric_limits<uint64_t>::max() || behind + max_lead_frames_ / 2 >= at) break;
            }
        }
    }
    w.read_frame.value.store(std::numeric_limits<uint64_t>::max(), std::memory_order_release);
    end_polling(w, reached);
}

bool WorkerPool::input_done() const noexcept {
    if (!replay_) return false;
    for (const auto& wp : workers_)
        if (!wp->polling_done.load(std::memory_order_acquire)) return false;
    return true;
}

// A polled or replay worker stops reading and waits for finish(), which says the packet time
// every worker ends at.
void WorkerPool::end_polling(Worker& w, uint64_t reached) {
    w.polling_done.store(true, std::memory_order_release);
    while (!finish_.load(std::memory_order_acquire)) std::this_thread::sleep_for(poll_interval);
    const uint64_t end_ts = finish_ts_.load(std::memory_order_acquire);
    if (end_ts > reached) w.pipeline->advance_time(end_ts);
    w.pipeline->finish();
    publish(w);
    w.reached_ts.store(std::max(reached, end_ts), std::memory_order_release);
    w.done.store(true, std::memory_order_release);
}

PacketBatch* WorkerPool::take_batch(Worker& w) {
    PacketBatch* b = nullptr;
    // Waiting for a free batch means the worker is behind; drain its outputs meanwhile so it
    // can never be stuck on a full finding queue while we wait for it.
    while (!w.free.wait_dequeue_timed(b, poll_interval)) poll(false);
    return b;
}

void WorkerPool::send(Worker& w) {
    PacketBatch* b = w.current;
    w.current = nullptr;
    // The earliest packet time any record of this batch can carry: its earliest packet, or the
    // time it advances an idle worker to.
    uint64_t min_ts = b->tick_ts ? b->tick_ts : reader_ts_;
    for (const PacketView& v : b->views) min_ts = std::min(min_ts, v.ts_ns);
    w.inflight_min_ts[w.dispatched % w.inflight_min_ts.size()] = min_ts;
    if (!b->views.empty()) w.sent_ts = b->views.back().ts_ns;
    if (b->tick_ts) w.sent_ts = b->tick_ts;
    ++w.dispatched;
    w.in.wait_enqueue(b);
}

bool WorkerPool::service() {
    if (polled_) return poll(false);
    dispatch({});
    return true;
}

void WorkerPool::dispatch(std::span<const PacketView> burst) {
    if (polled_) {
        poll(false);  // the workers have their own sources; nothing is given to them here
        return;
    }
    const size_t n = workers_.size();
    for (const PacketView& p : burst) {
        // The same clock rule as a pipeline's: forward with the packets, and back only when a new
        // recording starts (a jump back by more than the query timeout).
        if (p.ts_ns + config_.query_timeout_ns < reader_ts_) {
            // A new timeline: everything of the old one is merged before any record of the new
            // one, as a single pipeline would see them, and the merge never holds records back
            // behind a timestamp that will not come again.
            settle();
            reader_ts_ = p.ts_ns;
            ++time_jumps_;
        } else if (p.ts_ns > reader_ts_) {
            reader_ts_ = p.ts_ns;
        }
        Worker& w = *workers_[pair_shard(p, static_cast<uint32_t>(n))];
        if (w.current == nullptr) w.current = take_batch(w);
        if (!w.current->fits(p.data.size())) {
            send(w);
            w.current = take_batch(w);
        }
        w.current->add(p);
        ++w.packets;
    }
    for (auto& wp : workers_) {
        Worker& w = *wp;
        if (w.current != nullptr && !w.current->views.empty()) {
            send(w);
        } else if (reader_ts_ > w.sent_ts + tick_every_ns || reader_ts_ + config_.query_timeout_ns < w.sent_ts) {
            // An idle worker still has to see time pass, or its timeouts would wait for its next
            // packet (and differ from a single pipeline's).
            if (w.current == nullptr) w.current = take_batch(w);
            w.current->tick_ts = reader_ts_;
            ++pool_counters_.ticks;
            send(w);
        }
    }
    poll(false);
}

void WorkerPool::settle() {
    for (auto& wp : workers_) {
        if (wp->current != nullptr && !wp->current->views.empty()) send(*wp);
    }
    for (auto& wp : workers_) {
        while (wp->completed.load(std::memory_order_acquire) != wp->dispatched) {
            poll(false);
            std::this_thread::sleep_for(poll_interval);
        }
    }
    poll(true);
}

bool WorkerPool::poll(bool all) {
    bool took = false;
    for (auto& wp : workers_) {
        if (polled_) {
            // The worker's own progress: every record older than it is in the ring already.
            // The timeline first: the worker stores it after the time, so a time read after it
            // is never from an older timeline than the one read (at worst it is a later time,
            // which the worker has passed, or from the next timeline, which holds back more).
            wp->progress_epoch = wp->reached_epoch.load(std::memory_order_acquire);
            wp->progress_ts = wp->reached_ts.load(std::memory_order_acquire);
        } else {
            // Records of completed batches are in the ring (published before `completed`); the
            // batches still in flight can only add records from their earliest packet time on.
            const uint64_t done = wp->completed.load(std::memory_order_acquire);
            uint64_t progress = reader_ts_;
            for (uint64_t k = done; k < wp->dispatched; ++k)
                progress = std::min(progress, wp->inflight_min_ts[k % wp->inflight_min_ts.size()]);
            wp->progress_ts = progress;
        }
        while (Finding* f = wp->findings.q.front()) {
            sink_.on_finding(*f);
            wp->findings.q.pop();
            took = true;
        }
    }
    return merge_records(all) || took;
}

// Transaction records reach the aggregator in packet-time order across workers: a record is
// released once every worker has reached its time (a worker with nothing left to do has reached
// the reader's time). A record at or below every worker's progress is released whenever it
// was queued: no record still to come is older. The records wait in the workers' rings, which
// bound them.
bool WorkerPool::merge_records(bool all) {
    // Ordered by timeline, then by time (dispatch mode: one timeline, settled at each jump).
    using Mark = std::pair<uint64_t, uint64_t>;
    constexpr uint64_t top = std::numeric_limits<uint64_t>::max();
    Mark watermark{top, top};
    if (!all) {
        for (auto& wp : workers_) {
            watermark = std::min(watermark, Mark{wp->progress_epoch, wp->progress_ts});
        }
    }
    bool took = false;
    for (;;) {
        Worker* best = nullptr;
        Record* best_r = nullptr;
        for (auto& wp : workers_) {
            Record* r = wp->records.q.front();
            if (r == nullptr || Mark{r->epoch, r->ts_ns} > watermark) continue;
            if (best_r == nullptr || Mark{r->epoch, r->ts_ns} < Mark{best_r->epoch, best_r->ts_ns}) {
                best = wp.get();
                best_r = r;
            }
        }
        if (best == nullptr) return took;
        if (records_ != nullptr) {
            if (auto* q = std::get_if<QueryRecord>(&best_r->body)) records_->on_query(*q);
            else if (auto* o = std::get_if<OutcomeRecord>(&best_r->body)) records_->on_outcome(*o);
            else records_->on_material(std::move(std::get<ResponseMaterial>(best_r->body)));
        }
        best->records.q.pop();
        took = true;
    }
}

void WorkerPool::finish() {
    if (finished_) return;
    if (polled_) {
        stop_polling_.store(true, std::memory_order_release);
        for (auto& wp : workers_) {
            while (!wp->polling_done.load(std::memory_order_acquire)) {
                poll(false);
                std::this_thread::sleep_for(poll_interval);
            }
        }
        // Every worker ends at the latest packet time any of them reached, as one pipeline
        // that saw all the packets would.
        finish_ts_.store(latest_reached(), std::memory_order_release);
        finish_.store(true, std::memory_order_release);
    } else {
        for (auto& wp : workers_) {
            Worker& w = *wp;
            if (w.current == nullptr) w.current = take_batch(w);
            w.current->end = true;
            w.current->tick_ts = reader_ts_;
            send(w);
        }
    }
    for (auto& wp : workers_) {
        while (!wp->done.load(std::memory_order_acquire)) {
            poll(false);
            std::this_thread::sleep_for(poll_interval);
        }
        wp->thread.join();
    }
    poll(true);
    for (auto& wp : workers_) {
        pool_counters_.records_dropped += wp->records.dropped.load(std::memory_order_relaxed);
        pool_counters_.records_waited += wp->records.waited.load(std::memory_order_relaxed);
        pool_counters_.packets_per_worker.push_back(polled_ ? wp->pipeline->counters().packets : wp->packets);
    }
    finished_ = true;
}

WorkerGauges WorkerPool::gauges(std::vector<uint64_t>* per_worker) const {
    WorkerGauges g;
    if (per_worker) per_worker->clear();
    for (const auto& wp : workers_) {
        const uint64_t p = wp->g_packets.load(std::memory_order_relaxed);
        g.packets += p;
        g.bytes += wp->g_bytes.load(std::memory_order_relaxed);
        g.dns_udp += wp->g_dns_udp.load(std::memory_order_relaxed);
        g.dns_tcp += wp->g_dns_tcp.load(std::memory_order_relaxed);
        g.pending += wp->g_pending.load(std::memory_order_relaxed);
        g.pending_evicted += wp->g_evicted.load(std::memory_order_relaxed);
        if (per_worker) per_worker->push_back(p);
    }
    return g;
}

PipelineCounters WorkerPool::counters() const {
    PipelineCounters c;
    for (const auto& wp : workers_) c.merge(wp->pipeline->counters());
    // Dispatch mode: the reader saw every packet. Polled and replay workers saw every packet's
    // time, and the counters took the largest count.
    if (!polled_) c.time_jumps = time_jumps_;
    return c;
}

size_t WorkerPool::pending_capacity() const noexcept {
    return workers_.empty() ? 0 : workers_.front()->pipeline->pending_capacity();
}

}  // namespace frag53
