# shellcheck shell=bash
# testdata/lib/netns.sh - small helpers to build throw-away networks out of
# Linux network namespaces, for sipprot's capture recorder and end-to-end
# tests.  Source it from a bash script that runs as root:
#
#     . testdata/lib/netns.sh
#     sp_init                       # once: traps EXIT/INT/TERM -> sp_cleanup
#     ns_create sp-a; ns_create sp-b
#     ns_link sp-a eth0 sp-b eth0
#     ns_addr sp-a eth0 203.0.113.1/24; ns_addr sp-b eth0 203.0.113.2/24
#     ns_bg sp-b "$SP_WORK/server.log" some-server --flags
#     ns_wait_port sp-b udp 203.0.113.2 5060
#     ns_exec sp-a some-client 203.0.113.2
#
# Rules these helpers enforce (they are the test world's rules):
#   * every namespace name starts with "sp-";
#   * every address given to ns_addr / ns_route is inside a documentation
#     range: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32;
#   * veth pairs are created directly inside the namespaces (never in the root
#     namespace), so deleting the namespaces removes them;
#   * the root namespace (its links, addresses, routes, sysctls, firewall) is
#     never touched.
# Everything created through these helpers is remembered and removed again by
# sp_cleanup (processes first, then namespaces), which sp_init installs as an
# EXIT/INT/TERM trap.  Only processes started through ns_bg (and processes
# still running inside our own namespaces) are ever signalled.

# ---------------------------------------------------------------------------
# state

SP_NAMESPACES=()   # namespaces created by ns_create, in creation order
SP_PIDS=()         # background processes started by ns_bg / sp_track_pid
SP_WORK=${SP_WORK:-}   # scratch directory (logs), created by sp_init
SP_KEEP_WORK=${SP_KEEP_WORK:-0}  # 1: keep $SP_WORK even on success
SP_CLEANUP_HOOKS=()    # extra functions sp_cleanup calls first (LIFO)
SP_CLEANED=0

# ---------------------------------------------------------------------------
# messages

sp_log()  { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${SP_LOG_TAG:-sp}" "$*" >&2; }
sp_warn() { printf '%s [%s] WARNING: %s\n' "$(date +%H:%M:%S)" "${SP_LOG_TAG:-sp}" "$*" >&2; }
sp_die()  { printf '%s [%s] ERROR: %s\n' "$(date +%H:%M:%S)" "${SP_LOG_TAG:-sp}" "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# preconditions

# sp_require_root: exit unless running as root.
sp_require_root() {
    [[ $(id -u) -eq 0 ]] || sp_die "must run as root (try: sudo $0)"
}

# sp_require_cmds CMD...: exit listing every missing command.
sp_require_cmds() {
    local c missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if ((${#missing[@]})); then
        sp_die "missing commands: ${missing[*]} (Debian: apt-get install -y iproute2 kamailio sipvicious sip-tester tshark tcpdump iptables)"
    fi
}

# sp_init: create the scratch directory and install the cleanup trap.
sp_init() {
    if [[ -z $SP_WORK ]]; then
        SP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipprot-netns.XXXXXX")
    fi
    mkdir -p "$SP_WORK"
    trap 'sp_cleanup $?' EXIT
    trap 'sp_log "interrupted"; exit 130' INT
    trap 'sp_log "terminated"; exit 143' TERM
}

# sp_on_cleanup FUNC: run FUNC at the start of sp_cleanup (last added first).
sp_on_cleanup() { SP_CLEANUP_HOOKS+=("$1"); }

# ---------------------------------------------------------------------------
# address safety

# sp_is_doc_addr ADDR[/LEN]: true if ADDR is inside a documentation range.
sp_is_doc_addr() {
    local a=${1%%/*}
    case $a in
        192.0.2.*|198.51.100.*|203.0.113.*) return 0 ;;
    esac
    a=${a,,}
    [[ $a == 2001:db8:* || $a == 2001:0db8:* ]]
}

sp_assert_doc_addr() {
    sp_is_doc_addr "$1" || sp_die "refusing non-documentation address '$1' (allowed: 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 2001:db8::/32)"
}

sp_assert_ns_name() {
    [[ $1 == sp-* && ${#1} -le 64 && $1 =~ ^[A-Za-z0-9._-]+$ ]] ||
        sp_die "namespace name '$1' must start with 'sp-'"
}

# ---------------------------------------------------------------------------
# namespaces

ns_exists() { [[ -e /run/netns/$1 ]]; }

# ns_kill_all NS: TERM then KILL every process still inside NS (all of them
# were started by us: nothing else runs in an sp-* namespace).
ns_kill_all() {
    local ns=$1 pids i
    sp_assert_ns_name "$ns"
    ns_exists "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [[ -n ${pids// /} ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 30); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        [[ -n ${pids// /} ]] || return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

# ns_delete NS: kill what runs inside NS and delete it (its veths go with it).
ns_delete() {
    local ns=$1
    sp_assert_ns_name "$ns"
    ns_exists "$ns" || return 0
    ns_kill_all "$ns"
    ip netns del "$ns" 2>/dev/null || sp_warn "could not delete namespace $ns"
}

# ns_create NS: create a fresh namespace (deleting a stale one of the same
# name left by an earlier, killed run), bring lo up, turn off IPv6 duplicate
# address detection so addresses are usable at once.
ns_create() {
    local ns=$1
    sp_assert_ns_name "$ns"
    if ns_exists "$ns"; then
        sp_warn "namespace $ns exists (left over from an earlier run?) - recreating it"
        ns_delete "$ns"
    fi
    ip netns add "$ns"
    SP_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
    ns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0
    ns_sysctl "$ns" net.ipv6.conf.default.accept_dad=0
    ns_sysctl "$ns" net.ipv6.conf.all.accept_ra=0
    ns_sysctl "$ns" net.ipv6.conf.default.accept_ra=0
}

# ns_sysctl NS KEY=VALUE: set a (per-namespace) sysctl inside NS.
ns_sysctl() {
    ip netns exec "$1" sysctl -q -w "$2" >/dev/null
}

# ns_forwarding NS: make NS a router (IPv4 and IPv6 forwarding).
ns_forwarding() {
    ns_sysctl "$1" net.ipv4.ip_forward=1
    ns_sysctl "$1" net.ipv6.conf.all.forwarding=1
}

# ns_exec NS CMD...: run CMD inside NS (foreground).
ns_exec() {
    local ns=$1; shift
    sp_assert_ns_name "$ns"
    ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------------------
# links and addresses

# ns_link NS1 IF1 NS2 IF2: a veth pair with end IF1 in NS1 and IF2 in NS2,
# both up.  Created directly in the namespaces: nothing appears in the root
# namespace, not even for a moment.
ns_link() {
    local ns1=$1 if1=$2 ns2=$3 if2=$4
    sp_assert_ns_name "$ns1"; sp_assert_ns_name "$ns2"
    ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2"
    ip -n "$ns1" link set "$if1" up
    ip -n "$ns2" link set "$if2" up
}

# ns_bridge NS BR: a bridge BR inside NS, up.
ns_bridge() {
    local ns=$1 br=$2
    sp_assert_ns_name "$ns"
    ip -n "$ns" link add "$br" type bridge
    ip -n "$ns" link set "$br" up
}

# ns_bridge_port NS BR IF: enslave IF (already in NS) to bridge BR.
ns_bridge_port() {
    ip -n "$1" link set "$3" master "$2"
    ip -n "$1" link set "$3" up
}

# ns_addr NS IF ADDR/LEN...: add one or more addresses to IF.
ns_addr() {
    local ns=$1 dev=$2 a; shift 2
    sp_assert_ns_name "$ns"
    for a in "$@"; do
        sp_assert_doc_addr "$a"
        if [[ $a == *:* ]]; then
            ip -n "$ns" -6 addr add "$a" dev "$dev" nodad
        else
            ip -n "$ns" addr add "$a" dev "$dev"
        fi
    done
}

# ns_route NS DEST GW: route DEST ("default" or a prefix) via GW.
ns_route() {
    local ns=$1 dest=$2 gw=$3 fam=-4
    sp_assert_ns_name "$ns"
    sp_assert_doc_addr "$gw"
    [[ $dest == default ]] || sp_assert_doc_addr "$dest"
    [[ $gw == *:* ]] && fam=-6
    ip -n "$ns" "$fam" route add "$dest" via "$gw"
}

# ---------------------------------------------------------------------------
# processes

# sp_track_pid PID: remember PID so sp_cleanup stops it.
sp_track_pid() { SP_PIDS+=("$1"); }

# ns_bg NS LOGFILE CMD...: start CMD inside NS in the background, stdout and
# stderr to LOGFILE, stdin from /dev/null.  Sets SP_LAST_PID (the PID of CMD
# itself: "ip netns exec" execs it).  Call it directly, not as $(ns_bg ...):
# a command substitution would run it in a subshell.
ns_bg() {
    local ns=$1 log=$2; shift 2
    sp_assert_ns_name "$ns"
    ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
    SP_LAST_PID=$!
    sp_track_pid "$SP_LAST_PID"
}

# sp_stop PID [SIGNAL] [TIMEOUT_S]: send SIGNAL (default TERM), wait up to
# TIMEOUT_S (default 5) for the process to end, then KILL it.  Returns the
# process' exit status when it was our child, else 0.
sp_stop() {
    local pid=$1 sig=${2:-TERM} t=${3:-5} i rc=0
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || rc=$?; return "$rc"; }
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        sp_warn "pid $pid did not stop on SIG$sig, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# sp_wait_pid PID TIMEOUT_S: wait for a background process to finish by
# itself; kill it and fail if it takes longer.  Returns its exit status.
sp_wait_pid() {
    local pid=$1 t=$2 i rc=0
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        sp_warn "pid $pid still running after ${t}s, stopping it"
        sp_stop "$pid" TERM 3 || true
        return 124
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# ns_wait_port NS udp|tcp ADDR PORT [TIMEOUT_S]: wait until something listens
# on ADDR:PORT inside NS (ADDR "*" = any address).
ns_wait_port() {
    local ns=$1 proto=$2 addr=$3 port=$4 t=${5:-10} i flag pat
    case $proto in
        udp) flag=-uln ;;
        tcp) flag=-tln ;;
        *) sp_die "ns_wait_port: protocol must be udp or tcp, not '$proto'" ;;
    esac
    if [[ $addr == '*' ]]; then
        pat=":$port\$"
    elif [[ $addr == *:* ]]; then
        pat="^\\[?${addr}\\]?:$port\$"
    else
        pat="^${addr//./\\.}:$port\$"
    fi
    for ((i = 0; i < t * 10; i++)); do
        if ip netns exec "$ns" ss -H "$flag" 2>/dev/null | awk '{print $4}' | grep -Eq "$pat"; then
            return 0
        fi
        sleep 0.1
    done
    sp_warn "nothing listens on $proto $addr:$port in $ns after ${t}s"
    return 1
}

# sp_wait_file_match FILE REGEX [TIMEOUT_S]: wait until FILE contains REGEX.
sp_wait_file_match() {
    local f=$1 re=$2 t=${3:-10} i
    for ((i = 0; i < t * 10; i++)); do
        grep -Eq "$re" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------
# cleanup

# sp_cleanup [RC]: stop every tracked process, delete every namespace we
# created, remove the scratch directory (kept when RC != 0 or SP_KEEP_WORK=1,
# for the logs).  Safe to call more than once.
sp_cleanup() {
    local rc=${1:-0} i pid ns
    ((SP_CLEANED)) && return 0
    SP_CLEANED=1
    set +e
    for ((i = ${#SP_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
        "${SP_CLEANUP_HOOKS[i]}"
    done
    for ((i = ${#SP_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${SP_PIDS[i]}
        kill -0 "$pid" 2>/dev/null && sp_stop "$pid" TERM 3
    done
    for ((i = ${#SP_NAMESPACES[@]} - 1; i >= 0; i--)); do
        ns_delete "${SP_NAMESPACES[i]}"
    done
    SP_NAMESPACES=()
    SP_PIDS=()
    if [[ -n $SP_WORK && -d $SP_WORK ]]; then
        if [[ $rc -ne 0 || $SP_KEEP_WORK == 1 ]]; then
            sp_log "logs kept in $SP_WORK"
        else
            rm -rf -- "$SP_WORK"
        fi
    fi
    return 0
}
