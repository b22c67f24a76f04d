# shellcheck shell=bash
# testdata/lib/world.sh - the sipprot test world: a PBX, an "internet" router,
# two attackers and an office behind NAT, all in network namespaces.
# Needs lib/netns.sh sourced first.
#
#                       sp-rtr (router, forwards v4+v6)
#   sp-pbx              +--------------------------------+
#   eth0 203.0.113.10 --| eth-pbx 203.0.113.1            |
#   2001:db8:0:113::10  |         2001:db8:0:113::1      |
#   Kamailio :5060      |                                |
#   udp+tcp, v4+v6      | inet0 (bridge) 198.51.100.1    |
#                       |         2001:db8:0:100::1      |
#                       +---+-----------+-----------+----+
#                           |           |           |
#          sp-scan eth0 ----+           |           +---- sp-nat eth0 198.51.100.20
#          198.51.100.66                |                 (office NAT router,
#          2001:db8:0:100::66           |                  MASQUERADE out eth0)
#          (svmap/svwar/svcrack)        |                 sp-nat eth1 192.0.2.1
#                      sp-guess eth0 ---+                       |
#                      198.51.100.77                     sp-office eth0
#                      2001:db8:0:100::77                192.0.2.11 .12 .13 .14
#                      (sipp guesser)                    (sipp phones)
#
# The PBX sees attackers with their own addresses and the whole office as
# 198.51.100.20 with different source ports.  Traffic to the PBX is routed
# (one hop through sp-rtr), so sipprot can later be tested both in the PBX
# host itself (INPUT, namespace sp-pbx) and in front of it (FORWARD, sp-rtr).

SP_NS_PBX=sp-pbx
SP_NS_RTR=sp-rtr
SP_NS_SCAN=sp-scan
SP_NS_GUESS=sp-guess
SP_NS_NAT=sp-nat
SP_NS_OFFICE=sp-office

SP_PBX_IF=eth0                 # capture interface inside sp-pbx
SP_PBX_IP4=203.0.113.10
SP_PBX_IP6=2001:db8:0:113::10
SP_PBX_GW4=203.0.113.1
SP_PBX_GW6=2001:db8:0:113::1
SP_SIP_PORT=5060

SP_INET_GW4=198.51.100.1
SP_INET_GW6=2001:db8:0:100::1
SP_SCAN_IP4=198.51.100.66
SP_SCAN_IP6=2001:db8:0:100::66
SP_GUESS_IP4=198.51.100.77
SP_GUESS_IP6=2001:db8:0:100::77
SP_NAT_WAN4=198.51.100.20
SP_NAT_LAN4=192.0.2.1
SP_PHONE_IP4S=(192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14)

# world_up: build every namespace, link, address, route and the NAT rule.
world_up() {
    local ip
    sp_log "building the test world (namespaces ${SP_NS_PBX} ${SP_NS_RTR} ${SP_NS_SCAN} ${SP_NS_GUESS} ${SP_NS_NAT} ${SP_NS_OFFICE})"
    ns_create "$SP_NS_RTR"
    ns_create "$SP_NS_PBX"
    ns_create "$SP_NS_SCAN"
    ns_create "$SP_NS_GUESS"
    ns_create "$SP_NS_NAT"
    ns_create "$SP_NS_OFFICE"

    # router: the PBX segment and a bridged "internet" segment
    ns_forwarding "$SP_NS_RTR"
    ns_link "$SP_NS_RTR" eth-pbx "$SP_NS_PBX" "$SP_PBX_IF"
    ns_addr "$SP_NS_RTR" eth-pbx "$SP_PBX_GW4/24" "$SP_PBX_GW6/64"
    ns_bridge "$SP_NS_RTR" inet0
    ns_addr "$SP_NS_RTR" inet0 "$SP_INET_GW4/24" "$SP_INET_GW6/64"

    # PBX
    ns_addr "$SP_NS_PBX" "$SP_PBX_IF" "$SP_PBX_IP4/24" "$SP_PBX_IP6/64"
    ns_route "$SP_NS_PBX" default "$SP_PBX_GW4"
    ns_route "$SP_NS_PBX" default "$SP_PBX_GW6"

    # attackers
    ns_link "$SP_NS_RTR" eth-scan "$SP_NS_SCAN" eth0
    ns_bridge_port "$SP_NS_RTR" inet0 eth-scan
    ns_addr "$SP_NS_SCAN" eth0 "$SP_SCAN_IP4/24" "$SP_SCAN_IP6/64"
    ns_route "$SP_NS_SCAN" default "$SP_INET_GW4"
    ns_route "$SP_NS_SCAN" default "$SP_INET_GW6"

    ns_link "$SP_NS_RTR" eth-guess "$SP_NS_GUESS" eth0
    ns_bridge_port "$SP_NS_RTR" inet0 eth-guess
    ns_addr "$SP_NS_GUESS" eth0 "$SP_GUESS_IP4/24" "$SP_GUESS_IP6/64"
    ns_route "$SP_NS_GUESS" default "$SP_INET_GW4"
    ns_route "$SP_NS_GUESS" default "$SP_INET_GW6"

    # office NAT router and the phones' LAN
    ns_link "$SP_NS_RTR" eth-nat "$SP_NS_NAT" eth0
    ns_bridge_port "$SP_NS_RTR" inet0 eth-nat
    ns_addr "$SP_NS_NAT" eth0 "$SP_NAT_WAN4/24"
    ns_route "$SP_NS_NAT" default "$SP_INET_GW4"
    ns_forwarding "$SP_NS_NAT"
    ns_link "$SP_NS_NAT" eth1 "$SP_NS_OFFICE" eth0
    ns_addr "$SP_NS_NAT" eth1 "$SP_NAT_LAN4/24"
    for ip in "${SP_PHONE_IP4S[@]}"; do
        ns_addr "$SP_NS_OFFICE" eth0 "$ip/24"
    done
    ns_route "$SP_NS_OFFICE" default "$SP_NAT_LAN4"
    # the NAT rule lives in sp-nat's own netfilter tables, not the root's
    ns_exec "$SP_NS_NAT" iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -o eth0 -j MASQUERADE

    world_check
}

# world_check: every client namespace has a route to the PBX, and the PBX
# one back to the office's public address (no packets are sent).
world_check() {
    local ns
    for ns in "$SP_NS_SCAN" "$SP_NS_GUESS" "$SP_NS_NAT" "$SP_NS_OFFICE"; do
        ns_exec "$ns" ip route get "$SP_PBX_IP4" >/dev/null ||
            sp_die "no route from $ns to $SP_PBX_IP4"
    done
    ns_exec "$SP_NS_PBX" ip route get "$SP_NAT_WAN4" >/dev/null ||
        sp_die "no route from $SP_NS_PBX back to $SP_NAT_WAN4"
}

# world_down: remove the whole world (sp_cleanup does this too).
world_down() {
    local ns
    for ns in "$SP_NS_OFFICE" "$SP_NS_NAT" "$SP_NS_GUESS" "$SP_NS_SCAN" "$SP_NS_PBX" "$SP_NS_RTR"; do
        ns_delete "$ns"
    done
}

# ---------------------------------------------------------------------------
# the registrar

SP_PBX_PID=

# pbx_start CFG [KAMAILIO_ARGS...]: start Kamailio in sp-pbx in the
# foreground (-DD -E), listening on UDP and TCP 5060 on the PBX's IPv4 and
# IPv6 addresses; wait until it listens.  Extra args (e.g. -A WRONG_PW_403)
# are passed on.  Log: $SP_WORK/kamailio.log.
pbx_start() {
    local cfg=$1; shift
    local rundir=$SP_WORK/kamailio-run
    mkdir -p "$rundir"
    [[ -r $cfg ]] || sp_die "kamailio config $cfg not found"
    ns_bg "$SP_NS_PBX" "$SP_WORK/kamailio.log" \
        kamailio -f "$cfg" -DD -E -Y "$rundir" -m 64 -M 8 -n 2 -N 2 \
        -l "udp:$SP_PBX_IP4:$SP_SIP_PORT" -l "tcp:$SP_PBX_IP4:$SP_SIP_PORT" \
        -l "udp:[$SP_PBX_IP6]:$SP_SIP_PORT" -l "tcp:[$SP_PBX_IP6]:$SP_SIP_PORT" \
        "$@"
    SP_PBX_PID=$SP_LAST_PID
    if ! ns_wait_port "$SP_NS_PBX" udp "$SP_PBX_IP4" "$SP_SIP_PORT" 15 ||
        ! ns_wait_port "$SP_NS_PBX" tcp "$SP_PBX_IP4" "$SP_SIP_PORT" 5 ||
        ! ns_wait_port "$SP_NS_PBX" udp "$SP_PBX_IP6" "$SP_SIP_PORT" 5; then
        tail -n 30 "$SP_WORK/kamailio.log" >&2 || true
        sp_die "kamailio did not start (log above: $SP_WORK/kamailio.log)"
    fi
    kill -0 "$SP_PBX_PID" 2>/dev/null || sp_die "kamailio exited at start (see $SP_WORK/kamailio.log)"
}

# pbx_stop: stop Kamailio (its log is appended to kamailio-all.log).
pbx_stop() {
    [[ -n $SP_PBX_PID ]] || return 0
    sp_stop "$SP_PBX_PID" TERM 5 || true
    SP_PBX_PID=
    cat "$SP_WORK/kamailio.log" >>"$SP_WORK/kamailio-all.log" 2>/dev/null || true
}
