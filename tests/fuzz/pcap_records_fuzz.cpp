// libFuzzer target for PcapRecordReader with libpcap as the oracle. The input is a whole pcap
// file. libpcap reads it from memory (fmemopen), as PcapFileSource opens files, and the reader
// reads the same bytes in place; any difference in a record (captured bytes, caplen, len, time
// stamp) or in how the file ends (cleanly, or the error's text) traps.
//
// Files PcapFileSource does not read in place are skipped the same way it skips them: libpcap
// refuses the header, the format is not classic pcap, the link type is one frag53 does not
// decode, or libpcap rewrites the records' bytes (see pcap_records_verbatim).
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "dataplane/packet.h"
#include "dataplane/pcap_records.h"

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

// libpcap's C interface takes packet bytes as u_char.
bool same_bytes(frag53::Bytes a, const u_char* b, size_t n) {
    return a.size() == n && (n == 0 || std::memcmp(a.data(), b, n) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < frag53::pcap_file_header_size) return 0;
    std::vector<uint8_t> copy(data, data + size);  // fmemopen takes a writable buffer
    std::FILE* fp = fmemopen(copy.data(), copy.size(), "rb");
    if (fp == nullptr) return 0;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == nullptr) {
        std::fclose(fp);
        return 0;
    }

    const frag53::Bytes file = frag53::as_bytes(data, size);
    const int dlt = pcap_datalink(p);
    const auto layout =
        frag53::classic_pcap_layout(file, static_cast<uint32_t>(pcap_snapshot(p)));
    if (!layout || !frag53::link_type_supported(dlt) ||
        !frag53::pcap_records_verbatim(dlt, layout->swapped)) {
        pcap_close(p);
        return 0;
    }

    frag53::PcapRecordReader reader(file.subspan(frag53::pcap_file_header_size), *layout);
    for (;;) {
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        const int rc = pcap_next_ex(p, &h, &d);
        frag53::PcapRecord rec;
        const frag53::PcapReadStatus status = reader.next(rec);
        if (rc == 1) {
            check(status == frag53::PcapReadStatus::record);
            check(same_bytes(rec.data, d, h->caplen));
            check(rec.wire_len == h->len);
            // The sum PcapFileSource makes of libpcap's fields.
            const uint64_t ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull +
                                   static_cast<uint64_t>(h->ts.tv_usec);
            check(rec.ts_ns == ts_ns);
            // The view lies inside the input.
            check(rec.data.empty() || (rec.data.data() >= file.data() &&
                                       rec.data.data() + rec.data.size() <= file.data() + size));
            continue;
        }
        if (rc == PCAP_ERROR_BREAK) {
            check(status == frag53::PcapReadStatus::end);
            check(reader.error_message().empty());
        } else {
            check(status != frag53::PcapReadStatus::record &&
                  status != frag53::PcapReadStatus::end);
            check(reader.error_message() == pcap_geterr(p));
        }
        check(reader.next(rec) == status);  // the ending is sticky
        break;
    }
    pcap_close(p);  // closes fp
    return 0;
}
