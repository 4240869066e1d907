#!/usr/bin/env python3
"""frag53's DNSSEC findings against what the real BIND tools said about the same zones.

pcaps/dnssec-<case>.pcap and pcaps/dnssec-verdicts.json are made by scripts/make-dnssec-pcaps:
zones signed with dnssec-keygen/dnssec-signzone, served by named, queried with dig directly and
through a validating named, checked with dnssec-verify and delv. The expected findings are
derived here from those tools' outputs and the recorded answers, never from frag53:

- delv "RRSIG has expired" / "validity period has not begun": one dnssec.rrsig_expired /
  dnssec.rrsig_not_yet_valid per signing (key tag, inception, expiration) seen in the answers;
- delv "no DNSKEY matching DS": dnssec.ds_mismatch;
- delv "failed to verify" and dnssec-verify "No correct ... signature": dnssec.signature_invalid;
- the resolver answering SERVFAIL without CD and data with CD: one dnssec.validation_failure per
  such question;
- a zone that validates but signs with an RFC 8624 "must not" algorithm, uses NSEC3 iterations,
  or whose signatures end within 7 days (in their last quarter of life): dnssec.weak_algorithm,
  dnssec.nsec3_iterations, dnssec.rrsig_expiring;
- servers answering different SOA serials: dns.soa_serial_mismatch; a server whose copy
  dnssec-verify finds unsigned answering DO queries another server answers signed:
  dnssec.missing_rrsig.
Every other dnssec.* code must be 0, and zones the tools call valid must verify in frag53 too.

usage: verdicts_test.py FRAG53 SOURCE_ROOT
"""
import json, os, subprocess, sys, tempfile

frag53, root = sys.argv[1], sys.argv[2]
verdicts_path = os.path.join(root, "pcaps", "dnssec-verdicts.json")
if not os.path.exists(verdicts_path):
    print("skip: no pcaps/dnssec-verdicts.json")
    sys.exit(77)
verdicts = json.load(open(verdicts_path))
passed = failed = 0
WEAK = {1, 3, 5, 6, 7, 12}
CODES = ["dnssec.rrsig_expired", "dnssec.rrsig_not_yet_valid", "dnssec.rrsig_expiring", "dnssec.ds_mismatch",
         "dnssec.signature_invalid", "dnssec.missing_rrsig", "dnssec.validation_failure",
         "dnssec.weak_algorithm", "dnssec.nsec3_iterations", "dns.soa_serial_mismatch"]


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name} {detail}")


def windows(case, pred):
    """Distinct (key tag, inception, expiration) of the RRSIGs in the recorded answers of the case's
    zone that satisfy pred(inception_epoch, expiration_epoch)."""
    import calendar, time
    out = set()
    for q in case["queries"]:
        for section in q.get("rrsigs", {}).values():
            for s in section:
                owner = s["owner"].lower()
                if not (owner == case["zone"] or owner.endswith("." + case["zone"])):
                    continue  # the parent's signatures (DS, referrals)
                inc = calendar.timegm(time.strptime(s["inception"], "%Y%m%d%H%M%S"))
                exp = calendar.timegm(time.strptime(s["expiration"], "%Y%m%d%H%M%S"))
                if pred(inc, exp):
                    out.add((s["key_tag"], inc, exp))
    return out


def expected(case):
    exp = {c: 0 for c in CODES}
    texts = []
    for d in case["delv"]:
        if d["server"] == "resolver":
            continue  # delv through the resolver sees only its SERVFAIL
        texts.append(d["result"])
        texts.extend(d["reasons"])
    for v in case["dnssec_verify"].values():
        texts.extend(v.get("message", []))
    blob = "\n".join(texts)
    start = case["capture"]["start_epoch"]
    if "RRSIG has expired" in blob or "signature has expired" in blob:
        exp["dnssec.rrsig_expired"] = len(windows(case, lambda i, e: e < start))
    if "validity period has not begun" in blob:
        exp["dnssec.rrsig_not_yet_valid"] = len(windows(case, lambda i, e: i > start))
    if "no DNSKEY matching DS" in blob:
        exp["dnssec.ds_mismatch"] = 1
    if "failed to verify" in blob or "No correct" in blob:
        exp["dnssec.signature_invalid"] = 1
    # The resolver: SERVFAIL without CD and an answer with CD, per question.
    by_q = {}
    for q in case["queries"]:
        if q["server"] != "res":  # the validating resolver
            continue
        by_q.setdefault((q["qname"].lower(), q["qtype"]), []).append(q)
    exp["dnssec.validation_failure"] = sum(
        1 for qs in by_q.values()
        if any(q["rcode"] == "SERVFAIL" and not q["cd"] for q in qs)
        and any(q["rcode"] in ("NOERROR", "NXDOMAIN") and q["cd"] for q in qs))
    valid = all(d["fully_validated"] for d in case["delv"] if d["server"] == "ns1")
    if valid and case["algorithm"]["number"] in WEAK:
        exp["dnssec.weak_algorithm"] = 1
    if case["denial"].get("type") == "NSEC3" and int(case["denial"].get("iterations", 0)) > 0:
        exp["dnssec.nsec3_iterations"] = 1
    if valid:
        exp["dnssec.rrsig_expiring"] = len(windows(
            case, lambda i, e: start <= e <= start + 7 * 86400 and 4 * (e - start) <= e - i))
    if len(set(case["soa_serials"].values())) > 1:
        exp["dns.soa_serial_mismatch"] = 1
    unsigned = [s for s, v in case["dnssec_verify"].items() if "no DNSSEC keys" in " ".join(v.get("message", []))]
    signed = [s for s, v in case["dnssec_verify"].items() if v.get("ok")]
    if unsigned and signed:
        # Reported per server address (IPv4 and IPv6 are two servers on the wire).
        exp["dnssec.missing_rrsig"] = len(
            {q["address"] for q in case["queries"] if q["server"] in unsigned and q["do"]})
    return exp, valid


with tempfile.TemporaryDirectory() as tmp:
    for case in verdicts["cases"]:
        name = case["case"]
        pcap = os.path.join(root, "pcaps", case["pcap"])
        out = os.path.join(tmp, name + ".json")
        r = subprocess.run([frag53, "analyze", pcap, "-q", "--summary-json", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0 or not os.path.exists(out):
            check(f"{name}: frag53 runs", False, r.stderr.decode(errors="replace")[-300:])
            continue
        s = json.load(open(out))
        want, valid = expected(case)
        got = {c: s["findings"][c] for c in CODES}
        for code in CODES:
            check(f"{name}: {code} = {want[code]}", got[code] == want[code], f"frag53 says {got[code]}")
        d = s["dnssec"]
        check(f"{name}: signatures checked", d["signatures_verified"] > 0, d)
        if valid and want["dnssec.signature_invalid"] == 0:
            check(f"{name}: no signature fails where delv validates", d["signatures_failed"] == 0, d)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
