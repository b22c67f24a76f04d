// Package rules builds sipprot's iptables rules from the config and
// installs, removes and shows them.
//
// Rules turns the config into one iptables-restore script per IP family.
// The scripts only touch the filter table, only create chains whose names
// start with SIPPROT, and are meant for `iptables-restore --noflush`, so
// nothing else of the host's firewall changes. Each hook chain gets one
// jump, inserted at position 1: ahead of any
// `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` the host has, so
// that an attacker's UDP "connection" cannot skip the queue.
//
// # Chains
//
//	SIPPROT-INPUT    from INPUT. mode "local": SIP requests (dport = a SIP
//	                 port) and TFTP (UDP dport 69) to this host; both modes:
//	                 the DNS guard for this host (in mode "forward" the
//	                 chain exists only for it).
//	SIPPROT-OUTPUT   from OUTPUT, mode "local": the PBX's replies (sport =
//	                 a SIP port), straight to the queue.
//	SIPPROT-FORWARD  from FORWARD, mode "forward": the DNS guard, requests
//	                 and TFTP to the PBXes behind this host, their replies.
//	SIPPROT-REQUEST  requests: the rate guard, then the queue.
//	SIPPROT-GUARD    guard_exempt sources RETURN; any other source over
//	                 guard_pps packets/s is dropped (hashlimit on srcip,
//	                 IPv6 sources grouped by /64).
//	SIPPROT-REPLY    mode "forward" replies: their guard, then the queue.
//	SIPPROT-REPLY-GUARD  exempt sources and destinations RETURN; otherwise
//	                 hashlimit per (source, destination) pair.
//	SIPPROT-DEFRAG   never jumped to; see "Reassembly" below.
//
// Without a guard (guard_pps = 0, or a guard_exempt of the whole address
// space) the port rules queue directly and the REQUEST, GUARD, REPLY and
// REPLY-GUARD chains do not exist. The queue target is
// `NFQUEUE --queue-num N`, or with count > 1
// `--queue-balance N:N+count-1 --queue-cpu-fanout` (the queue is picked by
// the CPU that handles the packet), plus `--queue-bypass` when fail_open:
// with nobody reading the queue, packets pass; without it they are dropped.
// Ports go in the protocol's own match for one port or range, else in
// multiport rules of at most 15 ports, a range counting as two.
//
// # The rate guard
//
// Requests are limited per source address, so one flooding source cannot
// fill the queue; exempt sources skip the limit but still go to the queue.
// Replies in mode "local" are not limited: their source is this host, so a
// per-source limit would put every reply of the PBX in one bucket, and they
// cannot come from outside (OUTPUT only sees what this host sends); they
// follow requests that were already limited. In mode "forward" a packet
// from a SIP port may come from a PBX behind the host or from an outside
// host sending from port 5060 to any port, so replies are limited per
// (source, destination) pair: a PBX answering many clients keeps one
// bucket per client, while an outside source cannot use a SIP source port
// to slip past the guard. In mode "forward" a PBX's own requests to other
// hosts' SIP ports are limited per source like any request; list the PBXes
// in guard_exempt if one sends more than guard_pps of them.
//
// TFTP requests share the guard with SIP: it limits what one source puts
// in the queue, whatever the port. The hashlimit name carries the rate
// (sp4-req-500): the kernel keeps a table's settings for as long as any
// rule uses its name, so reinstalling with another guard_pps under the same
// name would keep the old rate. The burst is one second's worth of packets
// (guard_pps). When the kernel's table is full (by default 65536 sources
// seen in the last 10 seconds on a host with over 1 GB of memory) hashlimit
// drops packets of new sources, so a flood from many spoofed sources can
// keep new legitimate sources out until the table drains; exempt trunks and
// offices are not affected.
//
// # The DNS guard (CVE-2015-7547)
//
// glibc's getaddrinfo reads DNS responses into a 2048-byte stack buffer;
// the bug needs a response message over 2048 bytes. The rules drop, from
// source port 53, in INPUT (and FORWARD in mode "forward"):
//
//   - UDP: IP packets of 2077 bytes or more for IPv4 (a 20-byte IP header,
//     the 8-byte UDP header and a DNS message of 2049 bytes or more) and of
//     2097 bytes or more for IPv6 (40-byte header). `-m length` matches the
//     whole IP packet (IPv6: payload length plus the 40-byte header), so
//     every message over 2048 bytes is dropped; a message of 2048 bytes or
//     less is dropped only if IP options or IPv6 extension headers push its
//     packet over the limit, which DNS does not use.
//   - TCP: segments carrying more than 2050 bytes of TCP payload (a
//     2048-byte message plus its 2-byte length prefix). A `-m u32` test
//     reads the IP and TCP header lengths from the packet, so TCP options
//     (timestamps) do not move the limit: for IPv4 it tests that payload
//     byte 2051 exists ("0>>22&0x3C@12>>26&0x3C@2047"); for IPv6 it does
//     the same for TCP right after the 40-byte header (next header 6), and
//     does not test segments behind extension headers.
//
// The TCP rule is partial, and no stateless rule can do better: a message
// split over several segments, as on any link with a normal MTU, is never
// seen whole. It catches a message sent in one segment: over loopback
// (a local caching resolver), jumbo-frame links, and segments that GRO
// merged on receive. GRO can also merge two small back-to-back responses
// into one segment over 2050 bytes; that segment is dropped, and TCP
// retransmits it, normally unmerged. The real fix is a patched glibc.
//
// # Reassembly
//
// A UDP response over 2048 bytes is fragmented on a 1500-byte link. IPv4
// reassembles packets for this host before INPUT, but IPv6 does not, and
// neither does FORWARD; fragments are all under the limit and a
// non-first fragment has no ports. The kernel reassembles before the
// filter table once nf_defrag is on in the network namespace: conntrack
// turns it on, and so does any `-m socket` rule. SIPPROT-DEFRAG holds one
// such rule; no packet ever goes through the chain, the rule is there only
// to turn reassembly on (for IPv6, and for IPv4 in mode "forward") without
// turning on conntrack, which a spoofed SIP flood could fill. Removing the
// rules turns it off again (on current kernels; seen on 6.18).
//
// # Install and remove
//
// IPTables reads the current rules with *-save, and applies one
// *-restore --noflush script per family: the deletion of sipprot's jumps
// and chains that are already there, then the new ones. The change is
// atomic per family, and installing twice equals installing once. Remove
// finds sipprot's chains by name in the output of both iptables variants
// (nf_tables and legacy), so it also works after a crash, and does nothing
// when nothing is installed. The variant for install is, in order: the one
// asked for, the one holding sipprot's rules already, the one holding the
// host's rules if only one does, the one `iptables -V` names; what the
// other variant holds of sipprot is removed. If any step fails, everything
// of sipprot is removed, so a family is never left half-protected. On a
// host without any filter table, install creates it with empty ACCEPT
// built-in chains, and remove leaves those: they change nothing, and
// sipprot cannot tell whether something else has used them since.
// Everything read and run goes through an optional command prefix, such as
// `ip netns exec NS`, which is how the kernel tests stay in their own
// network namespaces.
package rules
