# shellcheck shell=bash
# testdata/lib/sipcap.sh - read SIP facts out of a capture with tshark, for
# checking recorded captures and describing them (testdata/captures/README.md).
#
#   sip_tsv FILE.pcap        one line per SIP message, tab-separated:
#       1 frame  2 time(s)  3 src  4 sport  5 dst  6 dport  7 udp|tcp
#       8 method (requests)  9 status (responses)  10 Call-ID  11 CSeq number
#       12 CSeq method  13 top Via branch  14 From user  15 To user
#       16 digest username of an Authorization/Proxy-Authorization header
#          (requests with credentials), without quotes
#       17 User-Agent  18 Server
#       19 (responses) "auth" if the request it answers carried credentials,
#          "noauth" if not, "?" if that request is not in the capture
#       20 (responses) the user of that request's digest username, else the
#          To user
#   tsv_count TSV AWK_CONDITION   number of lines matching the condition
#   sip_summary_md FILE.pcap      markdown facts (counts, UAs, codes, auth)

sip_tsv() {
    local f=$1
    tshark -r "$f" -n -Y sip -T fields -E separator=/t -E occurrence=f \
        -e frame.number -e frame.time_relative \
        -e ip.src -e ipv6.src -e udp.srcport -e tcp.srcport \
        -e ip.dst -e ipv6.dst -e udp.dstport -e tcp.dstport \
        -e sip.Method -e sip.Status-Code -e sip.Call-ID -e sip.CSeq.seq \
        -e sip.CSeq.method -e sip.Via.branch -e sip.from.user -e sip.to.user \
        -e sip.auth.username -e sip.User-Agent -e sip.Server 2>/dev/null |
        awk -F'\t' 'BEGIN { OFS = "\t" }
        {
            src = ($3 != "") ? $3 : $4;  sp = ($5 != "") ? $5 : $6
            dst = ($7 != "") ? $7 : $8;  dp = ($9 != "") ? $9 : $10
            proto = ($5 != "") ? "udp" : "tcp"
            au = $19; gsub(/"/, "", au)
            t = sprintf("%.3f", $2)
            key = $13 "|" $14 "|" $15 "|" $16
            if ($11 != "") {            # request
                reqauth[key] = (au != "") ? "auth" : "noauth"
                requser[key] = (au != "") ? au : $18
                print $1, t, src, sp, dst, dp, proto, $11, "", $13, $14, $15, $16, $17, $18, au, $20, $21, "", ""
            } else {                    # response
                ra = (key in reqauth) ? reqauth[key] : "?"
                ru = (key in requser) ? requser[key] : $18
                print $1, t, src, sp, dst, dp, proto, "", $12, $13, $14, $15, $16, $17, $18, "", $20, $21, ra, ru
            }
        }'
}

# tsv_count TSVFILE 'awk condition'
tsv_count() {
    awk -F'\t' "($2) { n++ } END { print n + 0 }" "$1"
}

# sip_summary_md PCAP: markdown facts about one capture.
sip_summary_md() {
    local f=$1 tsv packets bytes dur
    tsv=$(mktemp)
    sip_tsv "$f" >"$tsv"
    packets=$(capinfos -c -M "$f" 2>/dev/null | awk -F': *' '/Number of packets/ { print $2 }')
    bytes=$(stat -c %s "$f")
    dur=$(capinfos -u -M "$f" 2>/dev/null | awk -F': *' '/Capture duration/ { print $2 }')
    local nsip
    nsip=$(wc -l <"$tsv")
    printf -- '- file: %s bytes, %s packets, %s SIP messages%s, duration %s\n' \
        "$bytes" "$packets" "$nsip" \
        "$( ((packets != nsip)) && echo " (the other packets: TCP handshakes, ACKs, teardowns)")" "${dur:-?}"
    awk -F'\t' '
    {
        if ($8 != "") {
            nreq++
            sk = $3 "\t" $7 "\t" $8 "\t" (($16 != "") ? "with credentials" : "without credentials")
            if (!(sk in req)) rorder[++nr] = sk
            req[sk]++
            ports[$3 "\t" $7 "\t" $4] = 1
            if ($17 != "") { if (!($17 in ua)) uorder[++nu] = $17; ua[$17]++ }
            ck = $3 ":" $4 " " toupper($7)
            if (!(ck in cl)) clorder[++ncl] = ck
            cl[ck]++
            if ($16 != "") clauth[ck]++
            if (index(" " clusers[ck] " ", " " $15 " ") == 0) clusers[ck] = clusers[ck] (clusers[ck] == "" ? "" : " ") $15
            if ($17 != "" && index("|" clua[ck] "|", "|" $17 "|") == 0) clua[ck] = clua[ck] (clua[ck] == "" ? "" : "|") $17
            cid[$10] = 1
            if ($16 != "") { if (!($16 in authuser)) aorder[++na] = $16; authuser[$16]++ }
        } else {
            nresp++
            ck = $9
            if (!(ck in code)) corder[++nc] = ck
            code[ck]++
            rk = $9 "\t" $19
            rc[rk]++
            if ($18 != "" && !($18 in srv)) { sorder[++ns] = $18 }
            if ($18 != "") srv[$18]++
            if ($19 == "auth" && ($9 == 401 || $9 == 403 || $9 == 407)) { fk = $5 "\t" $20 "\t" $9; if (!(fk in fail)) forder[++nf] = fk; fail[fk]++ }
            if ($9 == 200 && $13 == "REGISTER") { ok[$5 "\t" $6 "\t" $20]++; if (!(($5 "\t" $6 "\t" $20) in okseen)) { okseen[$5 "\t" $6 "\t" $20] = 1; oorder[++no] = $5 "\t" $6 "\t" $20 } }
        }
    }
    END {
        printf "- SIP requests: %d, responses: %d, distinct Call-IDs in requests: %d\n", nreq, nresp, length(cid)
        print "- requests (source, transport, method, credentials: count):"
        for (i = 1; i <= nr; i++) {
            split(rorder[i], p, "\t")
            np = 0
            for (pk in ports) { split(pk, q, "\t"); if (q[1] == p[1] && q[2] == p[2]) np++ }
            printf "  - %s %s, %d source port%s: %s %s: %d\n", p[1], toupper(p[2]), np, (np == 1 ? "" : "s"), p[3], p[4], req[rorder[i]]
        }
        if (ncl <= 8) {
            print "- clients (source address:port, transport: To users, requests, with credentials, User-Agent):"
            for (i = 1; i <= ncl; i++) {
                k = clorder[i]; u = clua[k]; gsub(/\|/, "`, `", u)
                printf "  - %s: users %s, %d requests, %d with credentials, UA `%s`\n", k, clusers[k], cl[k], clauth[k] + 0, u
            }
        } else {
            printf "- clients: %d different source address:port pairs\n", ncl
        }
        printf "- responses by status code (all from the registrar):"
        for (i = 1; i <= nc; i++) printf " %s x%d%s", corder[i], code[corder[i]], (i < nc ? "," : "")
        print ""
        printf "- responses to requests that carried credentials:"
        any = 0
        for (i = 1; i <= nc; i++) if ((corder[i] "\tauth") in rc) { printf " %s x%d", corder[i], rc[corder[i] "\tauth"]; any = 1 }
        if (!any) printf " none"
        print ""
        if (nf) {
            print "- failed authenticated attempts (401/403/407 to a request with credentials), by client and digest user:"
            for (i = 1; i <= nf; i++) { split(forder[i], p, "\t"); printf "  - %s user %s: %s x%d\n", p[1], p[2], p[3], fail[forder[i]] }
        }
        if (no) {
            print "- 200 OK to REGISTER, by client address:port and user:"
            for (i = 1; i <= no; i++) { split(oorder[i], p, "\t"); printf "  - %s:%s user %s: x%d\n", p[1], p[2], p[3], ok[oorder[i]] }
        }
        print "- User-Agent strings (requests):"
        for (i = 1; i <= nu; i++) printf "  - `%s` x%d\n", uorder[i], ua[uorder[i]]
        if (ns) {
            print "- Server strings (responses):"
            for (i = 1; i <= ns; i++) printf "  - `%s` x%d\n", sorder[i], srv[sorder[i]]
        }
    }' "$tsv"
    rm -f "$tsv"
}
