#!/usr/bin/env bash
# shellcheck disable=SC2016  # awk programs in single quotes, on purpose
# testdata/record.sh - record the SIP test captures in testdata/captures/.
#
# Builds the sipprot test world in network namespaces (see lib/world.sh):
# a Kamailio registrar at 203.0.113.10, attackers at 198.51.100.66/.77, an
# office of sipp phones behind a NAT router at 198.51.100.20; runs one
# scenario per capture (sipvicious attacks, a sipp password guesser, the
# office's phones), captures port 5060 on the registrar's interface with
# tcpdump (both directions), checks every capture with tshark, installs it
# in testdata/captures/ and regenerates testdata/captures/README.md.
#
# Run by hand as root, NOT by `make test`:
#     sudo testdata/record.sh                 # every scenario
#     sudo testdata/record.sh svmap office    # only these
#     testdata/record.sh --list               # scenario names
#     testdata/record.sh --readme             # only regenerate README.md
# Options: -k/--keep keep the scratch directory (logs) even on success.
#
# Uses only 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
# inside namespaces named sp-*; removes namespaces and processes on exit,
# also on failure or Ctrl-C.  A capture is replaced only if its new
# recording passed its checks.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAPTURES=$HERE/captures
SIPP_DIR=$HERE/sipp
KAMAILIO_CFG=$HERE/kamailio/kamailio.cfg
SP_LOG_TAG=record

# shellcheck source=lib/netns.sh
. "$HERE/lib/netns.sh"
# shellcheck source=lib/world.sh
. "$HERE/lib/world.sh"
# shellcheck source=lib/sipcap.sh
. "$HERE/lib/sipcap.sh"

# every scenario, in recording (and README) order
ALL_SCENARIOS=(svmap svwar svcrack sipp-guess sipp-guess-403 office office-tcp svmap-v6)

# the office: user, phone address, User-Agent (one sipp process each)
OFFICE_USERS=(1010 1011 1012 1013)
OFFICE_UAS=("Yealink SIP-T46S 66.86.0.15" "Grandstream GXP2170 1.0.11.23" "Zoiper rv2.10.20.3" "Linphone/5.2.0")
OFFICE_TYPO_USER=1013          # mistypes the password 3 times first
GUESS_UA="Zoiper rv2.10.20.3"  # the guesser looks like an ordinary softphone

usage() {
    sed -n '3,/^$/{s/^# \{0,1\}//;p}' "$0"
    echo "Scenarios: ${ALL_SCENARIOS[*]}"
}

# ---------------------------------------------------------------------------
# capturing

TCPDUMP_PID=
CUR_PCAP=

# capture_start NAME: tcpdump on the registrar's interface, port 5060, full
# packets, both directions; returns once tcpdump is listening.
capture_start() {
    CUR_PCAP=$SP_WORK/$1.pcap
    rm -f "$CUR_PCAP"
    ns_bg "$SP_NS_PBX" "$SP_WORK/tcpdump-$1.log" \
        tcpdump -i "$SP_PBX_IF" -s 0 -U --immediate-mode -n -Z root -w "$CUR_PCAP" "port $SP_SIP_PORT"
    TCPDUMP_PID=$SP_LAST_PID
    if ! sp_wait_file_match "$SP_WORK/tcpdump-$1.log" 'listening on' 10; then
        cat "$SP_WORK/tcpdump-$1.log" >&2 || true
        sp_die "tcpdump did not start"
    fi
}

# capture_stop: let the last replies arrive, then stop tcpdump (SIGINT
# flushes the file).
capture_stop() {
    sleep 0.5
    sp_stop "$TCPDUMP_PID" INT 5 || true
    TCPDUMP_PID=
    [[ -s $CUR_PCAP ]] || sp_die "tcpdump wrote nothing to $CUR_PCAP"
}

# run_in NS TIMEOUT LOGNAME CMD...: run a client in NS in the foreground,
# output to $SP_WORK/LOGNAME.log; fail with its log on a non-zero exit.
run_in() {
    local ns=$1 t=$2 log=$SP_WORK/$3.log rc=0; shift 3
    sp_log "  $ns: $*"
    (cd "$SP_WORK" && ns_exec "$ns" timeout "$t" "$@" </dev/null >"$log" 2>&1) || rc=$?
    if ((rc != 0)); then
        tail -n 25 "$log" >&2 || true
        sp_die "'$1' in $ns failed with exit code $rc (log: $log)"
    fi
}

# sipp_phone NAME USER IP UA TRANSPORT START_DELAY_MS [typos]: one office
# phone, in the background (SP_LAST_PID).
sipp_phone() {
    local name=$1 user=$2 ip=$3 ua=$4 tr=$5 delay=$6 typos=${7:-}
    local args=(-sf "$SIPP_DIR/register-phone.xml")
    if [[ -n $typos ]]; then
        args=(-sf "$SIPP_DIR/register-phone-typos.xml" -inf "$SIPP_DIR/typos-$user.csv")
    fi
    args+=(-s "$user" -ap "pw-$user" -auth_uri "$SP_PBX_IP4"
        -set ua "$ua" -set expires 3600 -set rereg_ms 3000
        -i "$ip" -p "$SP_SIP_PORT" -bind_local -t "$tr" -m 1 -l 1
        -sleep "${delay}ms" -timeout 30s -timeout_error -nostdin
        -trace_err -error_file "$SP_WORK/$name-errors.log"
        "$SP_PBX_IP4:$SP_SIP_PORT")
    sp_log "  $SP_NS_OFFICE: sipp $user from $ip ($tr, \"$ua\")${typos:+ with 3 typos}"
    (cd "$SP_WORK" && ns_exec "$SP_NS_OFFICE" timeout 60 sipp "${args[@]}") </dev/null >"$SP_WORK/$name.log" 2>&1 &
    SP_LAST_PID=$!
    sp_track_pid "$SP_LAST_PID"
}

# ---------------------------------------------------------------------------
# scenarios: each records $SP_WORK/NAME.pcap

rec_svmap() {
    capture_start svmap
    run_in "$SP_NS_SCAN" 60 svmap svmap -b "$SP_SCAN_IP4" "$SP_PBX_IP4"
    capture_stop
}

rec_svwar() {
    capture_start svwar
    run_in "$SP_NS_SCAN" 120 svwar svwar -b "$SP_SCAN_IP4" -e1000-1040 "$SP_PBX_IP4"
    capture_stop
}

rec_svcrack() {
    capture_start svcrack
    run_in "$SP_NS_SCAN" 120 svcrack svcrack -b "$SP_SCAN_IP4" -u1001 -r1-30 "$SP_PBX_IP4"
    capture_stop
}

rec_sipp-guess() {
    capture_start "${1:-sipp-guess}"
    run_in "$SP_NS_GUESS" 120 "${1:-sipp-guess}" sipp -sf "$SIPP_DIR/guess.xml" \
        -inf "$SIPP_DIR/guess-1002.csv" -set ua "$GUESS_UA" -auth_uri "$SP_PBX_IP4" \
        -i "$SP_GUESS_IP4" -p "$SP_SIP_PORT" -bind_local -r 5 -m 25 -l 5 \
        -timeout 60s -timeout_error -nostdin -trace_err \
        -error_file "$SP_WORK/${1:-sipp-guess}-errors.log" "$SP_PBX_IP4:$SP_SIP_PORT"
    capture_stop
}

rec_sipp-guess-403() { rec_sipp-guess sipp-guess-403; }

# office NAME TRANSPORT...: the four phones, one transport each
rec_office_common() {
    local name=$1 i rc pids=() typos; shift
    local trs=("$@")
    capture_start "$name"
    for i in "${!OFFICE_USERS[@]}"; do
        typos=
        [[ ${OFFICE_USERS[i]} == "$OFFICE_TYPO_USER" ]] && typos=yes
        sipp_phone "$name-${OFFICE_USERS[i]}" "${OFFICE_USERS[i]}" "${SP_PHONE_IP4S[i]}" \
            "${OFFICE_UAS[i]}" "${trs[i]}" "$((300 * i))" $typos
        pids+=("$SP_LAST_PID")
    done
    for i in "${!pids[@]}"; do
        rc=0
        sp_wait_pid "${pids[i]}" 60 || rc=$?
        if ((rc != 0)); then
            tail -n 20 "$SP_WORK/$name-${OFFICE_USERS[i]}.log" "$SP_WORK/$name-${OFFICE_USERS[i]}-errors.log" >&2 2>/dev/null || true
            sp_die "phone ${OFFICE_USERS[i]} failed (sipp exit code $rc)"
        fi
    done
    capture_stop
}

rec_office() { rec_office_common office u1 u1 u1 u1; }
rec_office-tcp() { rec_office_common office-tcp u1 u1 t1 t1; }

rec_svmap-v6() {
    capture_start svmap-v6
    # 1) defaults: sipvicious 0.3.3 writes the IPv6 Via host without brackets
    #    ("Via: SIP/2.0/UDP 2001:db8:0:100::66:5060"); Kamailio cannot parse
    #    it and does not answer
    run_in "$SP_NS_SCAN" 60 svmap-v6 svmap -6 -b "$SP_SCAN_IP6" "$SP_PBX_IP6"
    # 2) the same with the external address given in brackets (-x): a valid
    #    Via, answered with 200
    run_in "$SP_NS_SCAN" 60 svmap-v6-x svmap -6 -b "$SP_SCAN_IP6" -x "[$SP_SCAN_IP6]" "$SP_PBX_IP6"
    capture_stop
}

# kamailio arguments per scenario (default: none)
pbx_args_for() {
    case $1 in
        sipp-guess-403) echo "-A WRONG_PW_403" ;;
        *) echo "" ;;
    esac
}

# ---------------------------------------------------------------------------
# checks: each reads $SP_WORK/NAME.tsv (see lib/sipcap.sh for the columns)

CHECK_FAILED=0
expect() { # expect DESCRIPTION ACTUAL OP EXPECTED
    local d=$1 a=$2 op=$3 e=$4
    if ! test "$a" "$op" "$e"; then
        sp_warn "check failed: $d: got $a, want $op $e"
        CHECK_FAILED=1
    fi
}
cnt() { tsv_count "$TSV" "$1"; }

check_common() {
    expect "requests present" "$(cnt '$8 != ""')" -ge 1
    expect "responses from the registrar present" "$(cnt '$9 != "" && ($3 == "'"$SP_PBX_IP4"'" || $3 == "'"$SP_PBX_IP6"'")')" -ge 1
    local unanswered=0
    [[ $1 == svmap-v6 ]] && unanswered=1   # svmap -6's malformed Via
    expect "every request answered (responses >= requests minus ACKs)" \
        "$(( $(cnt '$9 != ""') + unanswered ))" -ge "$(cnt '$8 != "" && $8 != "ACK"')"
}

check_svmap() {
    expect "OPTIONS from the scanner" "$(cnt '$8 == "OPTIONS" && $3 == "'"$SP_SCAN_IP4"'"')" -ge 1
    expect "friendly-scanner UA" "$(cnt '$17 == "friendly-scanner"')" -ge 1
    expect "200 OK" "$(cnt '$9 == 200')" -ge 1
}

check_svwar() {
    expect "REGISTERs from the scanner" "$(cnt '$8 == "REGISTER" && $3 == "'"$SP_SCAN_IP4"'"')" -ge 41
    expect "401 for existing 1000-1019" "$(cnt '$9 == 401')" -eq 20
    expect "404 for 1020-1040 (+ svwar's random probe)" "$(cnt '$9 == 404')" -ge 21
    expect "friendly-scanner UA on every request" "$(cnt '$8 != "" && $17 != "friendly-scanner"')" -eq 0
}

check_svcrack() {
    expect "REGISTERs with credentials" "$(cnt '$8 == "REGISTER" && $16 == "1001"')" -ge 30
    expect "401 answers to requests with credentials" "$(cnt '$9 == 401 && $19 == "auth"')" -ge 30
    expect "no 200 OK" "$(cnt '$9 == 200')" -eq 0
}

check_sipp-guess() {
    local code=${1:-401}
    expect "REGISTERs with credentials" "$(cnt '$8 == "REGISTER" && $16 == "1002"')" -eq 25
    expect "REGISTERs without credentials" "$(cnt '$8 == "REGISTER" && $16 == ""')" -eq 25
    expect "$code answers to requests with credentials" "$(cnt '$9 == '"$code"' && $19 == "auth"')" -eq 25
    expect "distinct Call-IDs" "$(awk -F'\t' '$8 != "" { c[$10] = 1 } END { print length(c) }' "$TSV")" -eq 25
    expect "UA is $GUESS_UA" "$(cnt '$8 != "" && $17 != "'"$GUESS_UA"'"')" -eq 0
    expect "no 200 OK" "$(cnt '$9 == 200')" -eq 0
}
check_sipp-guess-403() { check_sipp-guess 403; }

check_office() {
    local u
    expect "all requests from the NAT address" "$(cnt '$8 != "" && $3 != "'"$SP_NAT_WAN4"'"')" -eq 0
    expect "distinct NAT source ports" "$(awk -F'\t' '$8 != "" { c[$4 $7] = 1 } END { print length(c) }' "$TSV")" -eq 4
    for u in "${OFFICE_USERS[@]}"; do
        expect "200 OK to REGISTER for $u (register + re-register)" "$(cnt '$9 == 200 && $20 == "'"$u"'"')" -eq 2
    done
    expect "failed authenticated attempts of $OFFICE_TYPO_USER" \
        "$(cnt '($9 == 401 || $9 == 403) && $19 == "auth" && $20 == "'"$OFFICE_TYPO_USER"'"')" -eq 3
    expect "failed authenticated attempts of the others" \
        "$(cnt '($9 == 401 || $9 == 403) && $19 == "auth" && $20 != "'"$OFFICE_TYPO_USER"'"')" -eq 0
    expect "no 404" "$(cnt '$9 == 404')" -eq 0
}

check_office-tcp() {
    check_office
    expect "TCP requests" "$(cnt '$8 != "" && $7 == "tcp"')" -ge 8
    expect "UDP requests" "$(cnt '$8 != "" && $7 == "udp"')" -ge 8
}

check_svmap-v6() {
    expect "OPTIONS over IPv6 (two svmap runs)" "$(cnt '$8 == "OPTIONS" && $3 == "'"$SP_SCAN_IP6"'"')" -eq 2
    expect "200 OK over IPv6 (to the second run)" "$(cnt '$9 == 200 && $3 == "'"$SP_PBX_IP6"'"')" -eq 1
}

# ---------------------------------------------------------------------------
# README

scenario_text() {
    case $1 in
    svmap) cat <<EOF
SIP scan with sipvicious' **svmap** from the scanner 198.51.100.66 (default
options: one OPTIONS to \`sip:100@203.0.113.10\`, UA \`friendly-scanner\`).

    ip netns exec sp-scan svmap -b 198.51.100.66 203.0.113.10
EOF
    ;;
    svwar) cat <<EOF
Extension enumeration with **svwar** (default method REGISTER, default UA)
from 198.51.100.66.  svwar first probes a random 32-bit extension to learn
the "unknown user" answer (404), then REGISTERs 1000..1040: existing users
1000-1019 get 401, the others 404.

    ip netns exec sp-scan svwar -b 198.51.100.66 -e1000-1040 203.0.113.10
EOF
    ;;
    svcrack) cat <<EOF
Password cracking with **svcrack** against user 1001 from 198.51.100.66:
one REGISTER without credentials, then 31 REGISTERs with credentials - the
username itself ("1001") first, then "1".."30"; all wrong (1001's password
is pw-1001) - each answered by a 401 with a fresh challenge.  NB: svcrack
answers each challenge in the challenge's Call-ID and always with CSeq 2,
so the attempts normally share one Call-ID and CSeq; only the Via branch
differs.  (When a 401 comes late, svcrack sends a new credential-less
REGISTER with a new Call-ID in between: on a busy machine a recording can
hold a few Call-IDs.)  svcrack writes the nonce count in decimal
(nc=00000010 after 00000009) and encodes "user:password" in hex in the From
tag of each attempt.

    ip netns exec sp-scan svcrack -b 198.51.100.66 -u1001 -r1-30 203.0.113.10
EOF
    ;;
    sipp-guess) cat <<EOF
Password guessing with **sipp** from 198.51.100.77 with an ordinary
User-Agent (\`$GUESS_UA\`): 25 calls at 5/s, each REGISTER for 1002
without credentials -> 401 -> REGISTER with a wrong password from
\`sipp/guess-1002.csv\` -> 401 (fresh challenge).  Every attempt has its own
Call-ID (\`N-PID@198.51.100.77\`); CSeq 1 then 2; one UDP source port.

    ip netns exec sp-guess sipp -sf sipp/guess.xml -inf sipp/guess-1002.csv \\
        -set ua "$GUESS_UA" -auth_uri 203.0.113.10 -i 198.51.100.77 -p 5060 \\
        -bind_local -r 5 -m 25 -l 5 203.0.113.10:5060
EOF
    ;;
    sipp-guess-403) cat <<EOF
The same sipp guesser as sipp-guess.pcap, but the registrar runs with
\`-A WRONG_PW_403\`: a wrong password is answered with **403 Forbidden**
instead of a new 401 challenge.
EOF
    ;;
    office) cat <<EOF
A legitimate office: four sipp phones in sp-office (192.0.2.11-14) behind
the NAT router, so all appear as 198.51.100.20 with different source ports
(each phone binds local port 5060; MASQUERADE keeps 5060 for the first and
picks other ports for the rest).  Over UDP.  Each phone: REGISTER -> 401 ->
REGISTER with the right password -> 200, and 3 s later the same again
(re-registration, same Call-ID, higher CSeq).  1013 mistypes its password
three times first (3 x REGISTER with wrong credentials -> 401), then gets it
right.  Phones start 0.3 s apart.

| user | phone IP | User-Agent | scenario |
|------|----------|------------|----------|
| 1010 | 192.0.2.11 | ${OFFICE_UAS[0]} | sipp/register-phone.xml |
| 1011 | 192.0.2.12 | ${OFFICE_UAS[1]} | sipp/register-phone.xml |
| 1012 | 192.0.2.13 | ${OFFICE_UAS[2]} | sipp/register-phone.xml |
| 1013 | 192.0.2.14 | ${OFFICE_UAS[3]} | sipp/register-phone-typos.xml + typos-1013.csv |

    ip netns exec sp-office sipp -sf sipp/register-phone.xml -s 1010 -ap pw-1010 \\
        -auth_uri 203.0.113.10 -set ua "${OFFICE_UAS[0]}" -set expires 3600 \\
        -set rereg_ms 3000 -i 192.0.2.11 -p 5060 -bind_local -t u1 -m 1 203.0.113.10:5060
EOF
    ;;
    office-tcp) cat <<EOF
The same office as office.pcap, but 1012 (Zoiper) and 1013 (Linphone, with
its 3 typos) register over **TCP** (\`sipp -t t1\`: one TCP connection per
phone, through the NAT); 1010 and 1011 stay on UDP.  The capture holds the
TCP handshakes, SIP over TCP and the connection teardowns.
EOF
    ;;
    svmap-v6) cat <<EOF
svmap over **IPv6**, from 2001:db8:0:100::66 to the registrar's
2001:db8:0:113::10, run twice into one capture:

1. \`svmap -6\` with its defaults.  sipvicious 0.3.3 writes the IPv6 address
   in the Via header without brackets (\`Via: SIP/2.0/UDP
   2001:db8:0:100::66:5060;...\`), which is malformed; Kamailio logs "bad
   via" and does **not** answer.  (The From/To URIs are bracketed.)
2. The same with \`-x '[2001:db8:0:100::66]'\` (external address given with
   brackets): a valid Via, answered with 200 OK.

    ip netns exec sp-scan svmap -6 -b 2001:db8:0:100::66 2001:db8:0:113::10
    ip netns exec sp-scan svmap -6 -b 2001:db8:0:100::66 -x '[2001:db8:0:100::66]' 2001:db8:0:113::10
EOF
    ;;
    esac
}

write_readme() {
    local out=$CAPTURES/README.md tmp s f
    tmp=$(mktemp)
    {
        cat <<EOF
# SIP test captures

Generated by \`testdata/record.sh\` (run as root: \`sudo testdata/record.sh
[SCENARIO...]\`); do not edit by hand - the prose lives in record.sh and the
facts below are read from the pcap files with tshark each time the README is
regenerated (\`testdata/record.sh --readme\`).

All captures were taken with \`tcpdump -i eth0 -s 0 port 5060\` inside the
registrar's namespace sp-pbx: Ethernet link type, full packets, both
directions (requests to and responses from the registrar).  Traffic reaches
the registrar routed through sp-rtr (one hop).

## The test world

| host | address | what |
|------|---------|------|
| registrar (sp-pbx) | 203.0.113.10, 2001:db8:0:113::10 | Kamailio 5.6 (testdata/kamailio/kamailio.cfg), UDP+TCP 5060 |
| router (sp-rtr) | 203.0.113.1, 198.51.100.1 | routes between the segments |
| scanner (sp-scan) | 198.51.100.66, 2001:db8:0:100::66 | svmap, svwar, svcrack |
| guesser (sp-guess) | 198.51.100.77 | sipp password guesser |
| office NAT (sp-nat) | 198.51.100.20 (public), 192.0.2.1 (LAN) | MASQUERADE for 192.0.2.0/24 |
| phones (sp-office) | 192.0.2.11, .12, .13, .14 | sipp phones 1010..1013 |

Registrar behaviour: users 1000-1019 with password \`pw-<user>\`.  REGISTER:
unknown user -> 404; no credentials -> 401 (qop=auth); wrong password -> 401
with a new challenge (403 only in sipp-guess-403.pcap, \`-A WRONG_PW_403\`);
right password -> 200.  INVITE: unknown callee -> 404, otherwise 407 until
the caller authenticates.  OPTIONS -> 200.  Other methods -> 405.  Replies
carry \`Server: kamailio (5.6.3 (x86_64/linux))\`.

Tools (Debian 12 packages): $(kamailio -v 2>/dev/null | head -1 | sed 's/^version: //;s/ *$//'),
sipvicious $(dpkg-query -W -f='${Version}' sipvicious 2>/dev/null || echo '?'), $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ,]*' | head -1 | sed 's/\.$//'),
$(tcpdump --version 2>&1 | head -1), $(tshark -v 2>/dev/null | head -1 | sed 's/ (Git.*//').

EOF
        for s in "${ALL_SCENARIOS[@]}"; do
            f=$CAPTURES/$s.pcap
            [[ -f $f ]] || continue
            printf '## %s.pcap\n\n' "$s"
            scenario_text "$s"
            printf '\nFacts (tshark):\n\n'
            sip_summary_md "$f"
            printf '\n'
        done
        cat <<'EOF'
## Reading the facts yourself

    tshark -r testdata/captures/X.pcap -Y sip -T fields -e ip.src -e sip.Method \
        -e sip.Status-Code -e sip.User-Agent -e sip.auth.username

"Responses to requests that carried credentials" pairs each response with
its request by Call-ID, CSeq and top Via branch; a 401/403/407 to such a
request is an unauthorized attempt in sipprot's sense (a phone's first,
credential-less REGISTER answered by 401 is not).
EOF
    } >"$tmp"
    mv "$tmp" "$out"
    chmod 644 "$out"
    sp_log "wrote $out"
}

# ---------------------------------------------------------------------------
# main

main() {
    local s selected=() t0 t1 ok=() pbxargs
    while (($#)); do
        case $1 in
            -h|--help) usage; exit 0 ;;
            -l|--list) printf '%s\n' "${ALL_SCENARIOS[@]}"; exit 0 ;;
            -k|--keep) SP_KEEP_WORK=1 ;;
            --readme)
                sp_require_cmds tshark capinfos
                write_readme; exit 0 ;;
            -*) usage >&2; sp_die "unknown option $1" ;;
            *)
                [[ " ${ALL_SCENARIOS[*]} " == *" $1 "* ]] || sp_die "unknown scenario '$1' (known: ${ALL_SCENARIOS[*]})"
                selected+=("$1") ;;
        esac
        shift
    done
    ((${#selected[@]})) || selected=("${ALL_SCENARIOS[@]}")

    sp_require_root
    sp_require_cmds ip ss kamailio svmap svwar svcrack sipp tshark capinfos tcpdump iptables timeout awk
    [[ -r $KAMAILIO_CFG ]] || sp_die "missing $KAMAILIO_CFG"
    mkdir -p "$CAPTURES"

    t0=$(date +%s)
    sp_init
    sp_on_cleanup pbx_stop
    world_up

    for s in "${selected[@]}"; do
        sp_log "=== $s"
        read -r -a pbxargs <<<"$(pbx_args_for "$s")"
        pbx_start "$KAMAILIO_CFG" "${pbxargs[@]}"
        "rec_$s"
        pbx_stop
        TSV=$SP_WORK/$s.tsv
        sip_tsv "$SP_WORK/$s.pcap" >"$TSV"
        CHECK_FAILED=0
        check_common "$s"
        "check_$s"
        if ((CHECK_FAILED)); then
            sp_die "$s: the new capture failed its checks; kept it in $SP_WORK/$s.pcap, $CAPTURES/$s.pcap unchanged"
        fi
        cp "$SP_WORK/$s.pcap" "$CAPTURES/.$s.pcap.tmp"
        chmod 644 "$CAPTURES/.$s.pcap.tmp"
        mv "$CAPTURES/.$s.pcap.tmp" "$CAPTURES/$s.pcap"
        sp_log "$s: ok, $(wc -l <"$TSV") SIP messages, $(stat -c %s "$CAPTURES/$s.pcap") bytes -> captures/$s.pcap"
        ok+=("$s")
    done

    write_readme
    t1=$(date +%s)
    sp_log "recorded ${ok[*]} in $((t1 - t0)) s"
}

main "$@"
