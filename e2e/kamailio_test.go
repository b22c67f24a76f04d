//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"math"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// kamailio is the registrar under protection. Its configuration
// (testdata/kamailio.cfg) logs one "E2E-REQ" line for every request it
// receives and one "E2E-REPLY" line for every reply it sends; the tests
// assert from those lines.
type kamailio struct {
	ns  netnstest.NS
	p   *proc
	log string
}

// startKamailio starts Kamailio in ns on UDP and TCP 5060 of the PBX's
// IPv4 and IPv6 addresses and waits until it listens.
func startKamailio(t *testing.T, ns netnstest.NS, logPath, runDir string) *kamailio {
	t.Helper()
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := absPath("testdata/kamailio.cfg")
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, ns, "kamailio", logPath, procOpts{}, "kamailio", "-f", cfg, "-DD", "-E", "-Y", runDir,
		"-m", "64", "-M", "8", "-n", "2", "-N", "2",
		"-l", fmt.Sprintf("udp:%s:%d", pbx4, sipPort), "-l", fmt.Sprintf("tcp:%s:%d", pbx4, sipPort),
		"-l", fmt.Sprintf("udp:[%s]:%d", pbx6, sipPort), "-l", fmt.Sprintf("tcp:[%s]:%d", pbx6, sipPort))
	k := &kamailio{ns: ns, p: p, log: logPath}
	ok := testutil.Poll(15*time.Second, func() bool {
		return !p.running() || (ns.Listening("udp", pbxAddr(pbx4)) && ns.Listening("tcp", pbxAddr(pbx4)) &&
			ns.Listening("udp", pbxAddr(pbx6)))
	})
	if !ok || !p.running() {
		t.Fatalf("kamailio did not start; its log:\n%s", tail(logPath, 30))
	}
	return k
}

// sipReq is one request as Kamailio logged its arrival.
type sipReq struct {
	At     time.Time
	Src    netip.Addr
	Sport  int
	Proto  string
	Method string
	CallID string
	CSeq   int
	ToUser string
	Cred   bool // carried Authorization or Proxy-Authorization
	UA     string
}

// sipReply is one reply as Kamailio logged sending it.
type sipReply struct {
	At     time.Time
	Dst    netip.Addr
	Dport  int
	Method string
	CallID string
	CSeq   int
	Code   int
}

// traffic is what Kamailio logged: requests received, replies sent.
type traffic struct {
	reqs    []sipReq
	replies []sipReply
}

// traffic parses Kamailio's log so far.
func (k *kamailio) traffic(t *testing.T) traffic {
	t.Helper()
	f, err := os.Open(k.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tr traffic
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "E2E-REQ "); i >= 0 {
			kv := parseKV(line[i+len("E2E-REQ "):], "ua")
			tr.reqs = append(tr.reqs, sipReq{
				At: parseTV(kv["t"]), Src: parseAddr(kv["src"]), Sport: atoi(kv["sport"]),
				Proto: kv["proto"], Method: kv["method"], CallID: kv["callid"], CSeq: atoi(kv["cseq"]),
				ToUser: kv["touser"], Cred: kv["cred"] == "yes", UA: kv["ua"],
			})
		} else if i := strings.Index(line, "E2E-REPLY "); i >= 0 {
			kv := parseKV(line[i+len("E2E-REPLY "):], "")
			tr.replies = append(tr.replies, sipReply{
				At: parseTV(kv["t"]), Dst: parseAddr(kv["dst"]), Dport: atoi(kv["dport"]),
				Method: kv["method"], CallID: kv["callid"], CSeq: atoi(kv["cseq"]), Code: atoi(kv["code"]),
			})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(tr.reqs, func(i, j int) bool { return tr.reqs[i].At.Before(tr.reqs[j].At) })
	sort.SliceStable(tr.replies, func(i, j int) bool { return tr.replies[i].At.Before(tr.replies[j].At) })
	return tr
}

// parseKV splits "k1=v1 k2=v2 ..." into a map; the value of key last (if
// not "") is the whole rest of the line, spaces included.
func parseKV(s, last string) map[string]string {
	kv := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		if k == last {
			kv[k] = rest
			break
		}
		v, after, _ := strings.Cut(rest, " ")
		kv[k] = v
		s = after
	}
	return kv
}

// parseTV parses Kamailio's $TV(Sn), "seconds.microseconds".
func parseTV(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
}

// parseAddr parses an address as Kamailio, tshark or slog print it
// (IPv6 possibly in brackets); the zero Addr if it is none.
func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap()
}

// atoi is strconv.Atoi with 0 for anything that is not a number.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// from keeps the requests from src and the replies to it.
func (tr traffic) from(src netip.Addr) traffic {
	var out traffic
	for _, r := range tr.reqs {
		if r.Src == src {
			out.reqs = append(out.reqs, r)
		}
	}
	for _, r := range tr.replies {
		if r.Dst == src {
			out.replies = append(out.replies, r)
		}
	}
	return out
}

// since keeps what happened at or after t0.
func (tr traffic) since(t0 time.Time) traffic {
	var out traffic
	for _, r := range tr.reqs {
		if !r.At.Before(t0) {
			out.reqs = append(out.reqs, r)
		}
	}
	for _, r := range tr.replies {
		if !r.At.Before(t0) {
			out.replies = append(out.replies, r)
		}
	}
	return out
}

// txnKey identifies a transaction of one client.
type txnKey struct {
	src    netip.Addr
	port   int
	callID string
	cseq   int
}

// failure is one unauthorized attempt that reached the registrar: a
// request answered 403 or 404, or 401/407 although it carried credentials
// (sipprot's definition).
type failure struct {
	req   sipReq   // the request's first arrival
	reply sipReply // the failure reply
}

// failures returns the unauthorized attempts in tr, in reply order. As in
// sipprot, a request is paired with the next reply of the same client,
// Call-ID and CSeq: a retransmission before the reply counts once, while a
// new attempt reusing Call-ID and CSeq after a reply (svcrack does that)
// counts again.
func (tr traffic) failures() []failure {
	pending := map[txnKey]sipReq{}
	var out []failure
	i, j := 0, 0
	for i < len(tr.reqs) || j < len(tr.replies) {
		if j == len(tr.replies) || (i < len(tr.reqs) && !tr.replies[j].At.Before(tr.reqs[i].At)) {
			r := tr.reqs[i]
			i++
			k := txnKey{r.Src, r.Sport, r.CallID, r.CSeq}
			if _, ok := pending[k]; !ok {
				pending[k] = r
			}
			continue
		}
		rp := tr.replies[j]
		j++
		k := txnKey{rp.Dst, rp.Dport, rp.CallID, rp.CSeq}
		req, ok := pending[k]
		if !ok {
			continue
		}
		delete(pending, k)
		switch {
		case rp.Code == 403 || rp.Code == 404:
		case (rp.Code == 401 || rp.Code == 407) && req.Cred:
		default:
			continue
		}
		out = append(out, failure{req: req, reply: rp})
	}
	return out
}

// okReplies counts 200 replies to REGISTERs per To user (phones'
// successful registrations).
func (tr traffic) okRegisters() map[string]int {
	user := map[txnKey]string{}
	for _, r := range tr.reqs {
		user[txnKey{r.Src, r.Sport, r.CallID, r.CSeq}] = r.ToUser
	}
	n := map[string]int{}
	seen := map[txnKey]bool{}
	for _, rp := range tr.replies {
		k := txnKey{rp.Dst, rp.Dport, rp.CallID, rp.CSeq}
		if rp.Code == 200 && rp.Method == "REGISTER" && !seen[k] {
			seen[k] = true
			n[user[k]]++
		}
	}
	return n
}

// summary describes tr for failure messages: counts per method and the
// first and last few requests.
func (tr traffic) summary() string {
	var b strings.Builder
	byMethod := map[string]int{}
	cred := 0
	for _, r := range tr.reqs {
		byMethod[r.Method]++
		if r.Cred {
			cred++
		}
	}
	fmt.Fprintf(&b, "%d requests (%v, %d with credentials), %d replies", len(tr.reqs), byMethod, cred, len(tr.replies))
	show := func(rs []sipReq) {
		for _, r := range rs {
			fmt.Fprintf(&b, "\n\t%s %s:%d %s %s %s cseq=%d cred=%v ua=%q", r.At.Format("15:04:05.000000"),
				r.Src, r.Sport, r.Proto, r.Method, r.CallID, r.CSeq, r.Cred, r.UA)
		}
	}
	if len(tr.reqs) <= 10 {
		show(tr.reqs)
	} else {
		show(tr.reqs[:5])
		b.WriteString("\n\t...")
		show(tr.reqs[len(tr.reqs)-5:])
	}
	return b.String()
}
