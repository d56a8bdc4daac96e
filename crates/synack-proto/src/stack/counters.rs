//! Stack-wide counters, named after Linux's `nstat` where one exists.

use crate::tcp::ConnStats;

/// What the stack has seen, sent and dropped, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `TcpInSegs`: TCP segments received and parsed.
    pub in_segs: u64,
    /// `TcpOutSegs`: TCP segments sent.
    pub out_segs: u64,
    /// `TcpOutRsts`: RSTs sent.
    pub out_rsts: u64,
    /// `TcpInCsumErrors`: packets dropped for a bad IP or TCP checksum.
    pub in_csum_errors: u64,
    /// Segments whose TCP checksum was taken in the copy of their payload into the receive
    /// ring (in-order data on an established connection, verified by the stack) and verified:
    /// their payload was copied once, not summed then copied. No nstat counter of its own.
    pub in_csum_folded: u64,
    /// `TcpInErrs`: packets dropped as malformed (truncated, bad lengths or options, fragments…).
    pub in_errs: u64,
    /// Packets for an address this stack does not own.
    pub in_wrong_addr: u64,
    /// `TcpExtListenOverflows`: SYNs dropped because a listener's queues were full.
    pub listen_overflows: u64,
    /// `TcpActiveOpens`: connections opened by `connect`.
    pub active_opens: u64,
    /// `TcpPassiveOpens`: connections opened by a listener.
    pub passive_opens: u64,
    /// `TcpAttemptFails`: handshakes that failed.
    pub attempt_fails: u64,
    /// `TcpEstabResets`: established connections reset.
    pub estab_resets: u64,
    /// `TcpExtTCPAbortOnTimeout`: connections that gave up after too many retransmissions.
    pub abort_on_timeout: u64,
    /// `TcpExtTCPAbortOnClose`: connections closed with unread data, reset instead of
    /// ended with a FIN (RFC 1122 §4.2.2.13, RFC 2525 §2.17).
    pub abort_on_close: u64,
    /// `TcpExtTCPAbortOnData`: connections reset because data arrived after the user
    /// closed them.
    pub abort_on_data: u64,
    /// `TcpExtSyncookiesSent`: SYN,ACKs sent with a cookie because a SYN queue was full.
    pub syncookies_sent: u64,
    /// `TcpExtSyncookiesRecv`: connections created from a valid cookie.
    pub syncookies_recv: u64,
    /// `TcpExtSyncookiesFailed`: ACKs to a listener whose cookie did not validate.
    pub syncookies_failed: u64,
    /// `TcpRetransSegs`: segments retransmitted.
    pub retrans_segs: u64,
    /// `TcpExtTCPTimeouts`: retransmission timeouts.
    pub timeouts: u64,
    /// `TcpExtTCPFastRetrans`: fast retransmissions on duplicate ACKs.
    pub fast_retrans: u64,
    /// `TcpExtTCPSackRecovery`: SACK-based fast recoveries entered (RFC 6675).
    pub sack_recovery: u64,
    /// `TcpExtTCPLossProbes`: tail loss probes sent (RFC 8985 §7).
    pub loss_probes: u64,
    /// `TcpExtTCPLossProbeRecovery`: tail losses repaired by a probe (RFC 8985 §7.4).
    pub loss_probe_recovery: u64,
    /// `TcpExtTCPDSACKRecv`: D-SACKs received (RFC 2883).
    pub dsack_recv: u64,
    /// `TcpExtTCPSACKDiscard`: SACK blocks ignored as outside [SND.UNA, SND.MAX].
    pub sack_discard: u64,
    /// `TcpExtTCPSACKReneging`: peers that dropped data they had SACKed (RFC 2018 §8).
    pub sack_reneging: u64,
    /// `TcpExtTCPChallengeACK`: challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// `TcpExtTCPWinProbe`: zero-window probes sent.
    pub win_probes: u64,
    /// `TcpExtTCPKeepAlive`: keep-alive probes sent.
    pub keepalive_probes: u64,
    /// `TcpExtTCPMTUPSuccess`: path MTU probes acknowledged, the segment size raised to
    /// theirs (RFC 4821).
    pub mtup_success: u64,
    /// `TcpExtTCPMTUPFail`: path MTU probes lost, the search narrowed below them.
    pub mtup_fail: u64,
    /// Segments dropped as outside the receive window (no nstat counter of its own).
    pub out_of_window: u64,
    /// `TcpExtPAWSEstab`: segments dropped by PAWS.
    pub paws_estab: u64,
    /// RSTs received (any, accepted or not).
    pub in_rsts: u64,
    /// RSTs that reset or refused a connection.
    pub rsts_accepted: u64,
    /// `TcpExtTCPTimeWaitOverflow`: connections that skipped TIME-WAIT because the table was full.
    pub tw_overflow: u64,
    /// RSTs not sent because the reply queue was full.
    pub rst_queue_full: u64,
    /// Segments not sent because the caller's buffer was too small.
    pub out_buffer_too_small: u64,
    /// Packets whose IP protocol is neither TCP, UDP nor ICMP: ignored (not an error).
    pub in_unknown_protos: u64,
    /// SYNs that also carried FIN, dropped without an answer (as Linux and FreeBSD do: the
    /// combination only ever comes from scanners and fingerprinting tools).
    pub in_syn_fin: u64,
    /// `IcmpInMsgs`: ICMP and ICMPv6 messages received for our addresses.
    pub icmp_in_msgs: u64,
    /// `IcmpInErrors`: ICMP messages dropped as malformed.
    pub icmp_in_errors: u64,
    /// `IcmpInCsumErrors`: ICMP messages dropped for a bad checksum.
    pub icmp_in_csum_errors: u64,
    /// `IcmpInEchos`: echo requests received.
    pub icmp_in_echos: u64,
    /// `IcmpOutEchoReps`: echo replies sent.
    pub icmp_out_echo_reps: u64,
    /// Echo replies and ICMP errors not sent because their queue was full.
    pub icmp_out_drops: u64,
    /// `IcmpOutErrors`: ICMP errors sent (port unreachable, time exceeded).
    pub icmp_out_errors: u64,
    /// `IcmpOutDestUnreachs`: of them, destination (port) unreachable.
    pub icmp_out_dest_unreachs: u64,
    /// `IcmpOutTimeExcds`: of them, time exceeded (fragment reassembly).
    pub icmp_out_time_excds: u64,
    /// `IpReasmReqds`: fragments received for reassembly.
    pub ip_reasm_reqds: u64,
    /// `IpReasmOKs`: datagrams reassembled.
    pub ip_reasm_oks: u64,
    /// `IpReasmFails`: fragments or datagrams dropped by reassembly (every reason).
    pub ip_reasm_fails: u64,
    /// `IpReasmTimeout`: datagrams whose fragments did not all come in time.
    pub ip_reasm_timeout: u64,
    /// `IcmpOutRateLimitGlobal`: ICMP errors not sent because of the rate limit.
    pub icmp_out_rate_limited: u64,
    /// ICMP errors about our TCP segments that their connection believed.
    pub icmp_errors_believed: u64,
    /// `TcpExtOutOfWindowIcmps`: ICMP errors quoting a sequence number not outstanding.
    pub icmp_errors_ignored: u64,
    /// `UdpInDatagrams`: datagrams delivered to a socket's queue.
    pub udp_in_datagrams: u64,
    /// `UdpNoPorts`: datagrams for a port no socket is bound to.
    pub udp_no_ports: u64,
    /// `UdpInErrors`: datagrams dropped as malformed (bad length or checksum).
    pub udp_in_errors: u64,
    /// `UdpInCsumErrors`: datagrams dropped for a bad checksum (also in `UdpInErrors`).
    pub udp_in_csum_errors: u64,
    /// `UdpRcvbufErrors`: datagrams dropped because their socket's queue was full.
    pub udp_rcvbuf_errors: u64,
    /// `UdpSndbufErrors`: sends refused because the stack's send queue was full.
    pub udp_sndbuf_errors: u64,
    /// `UdpOutDatagrams`: datagrams queued to send.
    pub udp_out_datagrams: u64,
    /// `IpFragOKs`: packets larger than the MTU sent in fragments.
    pub frag_oks: u64,
    /// `IpFragCreates`: fragments made of them.
    pub frag_creates: u64,
    /// `IpFragFails`: packets larger than the MTU that could not be fragmented.
    pub frag_fails: u64,
    /// Intercepted UDP flows that became sessions.
    pub udp_sessions: u64,
    /// New intercepted UDP flows dropped because the sessions or the backlog were full.
    pub udp_session_overflows: u64,
    /// Intercepted UDP sessions ended by the idle timeout.
    pub udp_session_timeouts: u64,
    /// Times the stack came under memory pressure
    /// ([`StackConfig::memory_pressure`](super::StackConfig::memory_pressure)).
    pub memory_pressure: u64,
}

impl Counters {
    /// Adds what one connection counted between two snapshots of its statistics.
    pub(crate) fn absorb(&mut self, before: ConnStats, after: ConnStats) {
        let d = |a: u64, b: u64| b.saturating_sub(a);
        self.retrans_segs += d(before.retransmits, after.retransmits);
        self.timeouts += d(before.timeouts, after.timeouts);
        self.fast_retrans += d(before.fast_retransmits, after.fast_retransmits);
        self.sack_recovery += d(before.sack_recoveries, after.sack_recoveries);
        self.loss_probes += d(before.tlp_probes, after.tlp_probes);
        self.loss_probe_recovery += d(before.tlp_recoveries, after.tlp_recoveries);
        self.dsack_recv += d(before.dsacks_received, after.dsacks_received);
        self.sack_discard += d(before.sack_blocks_invalid, after.sack_blocks_invalid);
        self.sack_reneging += d(before.sack_reneging, after.sack_reneging);
        self.challenge_acks += d(before.challenge_acks, after.challenge_acks);
        self.win_probes += d(before.window_probes, after.window_probes);
        self.keepalive_probes += d(before.keepalive_probes, after.keepalive_probes);
        self.out_of_window += d(before.dropped_segments, after.dropped_segments);
        self.paws_estab += d(before.paws_drops, after.paws_drops);
        self.rsts_accepted += d(before.resets_received, after.resets_received);
        self.abort_on_data += d(before.aborts_on_data, after.aborts_on_data);
        self.mtup_success += d(before.mtu_probes_acked, after.mtu_probes_acked);
        self.mtup_fail += d(before.mtu_probes_lost, after.mtu_probes_lost);
    }

    /// Every counter with its `nstat`-style name, in a fixed order (for printing).
    pub fn named(&self) -> [(&'static str, u64); 71] {
        [
            ("TcpInSegs", self.in_segs),
            ("TcpOutSegs", self.out_segs),
            ("TcpOutRsts", self.out_rsts),
            ("TcpInCsumErrors", self.in_csum_errors),
            ("SynackInCsumFolded", self.in_csum_folded),
            ("TcpInErrs", self.in_errs),
            ("SynackInWrongAddr", self.in_wrong_addr),
            ("TcpExtListenOverflows", self.listen_overflows),
            ("TcpActiveOpens", self.active_opens),
            ("TcpPassiveOpens", self.passive_opens),
            ("TcpAttemptFails", self.attempt_fails),
            ("TcpEstabResets", self.estab_resets),
            ("TcpExtTCPAbortOnTimeout", self.abort_on_timeout),
            ("TcpExtTCPAbortOnClose", self.abort_on_close),
            ("TcpExtTCPAbortOnData", self.abort_on_data),
            ("TcpExtSyncookiesSent", self.syncookies_sent),
            ("TcpExtSyncookiesRecv", self.syncookies_recv),
            ("TcpExtSyncookiesFailed", self.syncookies_failed),
            ("TcpRetransSegs", self.retrans_segs),
            ("TcpExtTCPTimeouts", self.timeouts),
            ("TcpExtTCPFastRetrans", self.fast_retrans),
            ("TcpExtTCPSackRecovery", self.sack_recovery),
            ("TcpExtTCPLossProbes", self.loss_probes),
            ("TcpExtTCPLossProbeRecovery", self.loss_probe_recovery),
            ("TcpExtTCPDSACKRecv", self.dsack_recv),
            ("TcpExtTCPSACKDiscard", self.sack_discard),
            ("TcpExtTCPSACKReneging", self.sack_reneging),
            ("TcpExtTCPChallengeACK", self.challenge_acks),
            ("TcpExtTCPWinProbe", self.win_probes),
            ("TcpExtTCPKeepAlive", self.keepalive_probes),
            ("TcpExtTCPMTUPSuccess", self.mtup_success),
            ("TcpExtTCPMTUPFail", self.mtup_fail),
            ("SynackOutOfWindow", self.out_of_window),
            ("TcpExtPAWSEstab", self.paws_estab),
            ("SynackInRsts", self.in_rsts),
            ("SynackRstsAccepted", self.rsts_accepted),
            ("TcpExtTCPTimeWaitOverflow", self.tw_overflow),
            ("SynackReplyQueueFull", self.rst_queue_full),
            ("SynackOutBufferTooSmall", self.out_buffer_too_small),
            ("SynackInUnknownProtos", self.in_unknown_protos),
            ("SynackInSynFin", self.in_syn_fin),
            ("IcmpInMsgs", self.icmp_in_msgs),
            ("IcmpInErrors", self.icmp_in_errors),
            ("IcmpInCsumErrors", self.icmp_in_csum_errors),
            ("IcmpInEchos", self.icmp_in_echos),
            ("IcmpOutEchoReps", self.icmp_out_echo_reps),
            ("SynackIcmpOutDrops", self.icmp_out_drops),
            ("IcmpOutErrors", self.icmp_out_errors),
            ("IcmpOutDestUnreachs", self.icmp_out_dest_unreachs),
            ("IcmpOutTimeExcds", self.icmp_out_time_excds),
            ("IpReasmReqds", self.ip_reasm_reqds),
            ("IpReasmOKs", self.ip_reasm_oks),
            ("IpReasmFails", self.ip_reasm_fails),
            ("IpReasmTimeout", self.ip_reasm_timeout),
            ("IcmpOutRateLimitGlobal", self.icmp_out_rate_limited),
            ("SynackIcmpErrorsBelieved", self.icmp_errors_believed),
            ("TcpExtOutOfWindowIcmps", self.icmp_errors_ignored),
            ("UdpInDatagrams", self.udp_in_datagrams),
            ("UdpNoPorts", self.udp_no_ports),
            ("UdpInErrors", self.udp_in_errors),
            ("UdpInCsumErrors", self.udp_in_csum_errors),
            ("UdpRcvbufErrors", self.udp_rcvbuf_errors),
            ("UdpSndbufErrors", self.udp_sndbuf_errors),
            ("UdpOutDatagrams", self.udp_out_datagrams),
            ("IpFragOKs", self.frag_oks),
            ("IpFragCreates", self.frag_creates),
            ("IpFragFails", self.frag_fails),
            ("SynackUdpSessions", self.udp_sessions),
            ("SynackUdpSessionOverflows", self.udp_session_overflows),
            ("SynackUdpSessionTimeouts", self.udp_session_timeouts),
            ("SynackMemoryPressure", self.memory_pressure),
        ]
    }

    /// The counters that are not zero, with their names.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> {
        self.named().into_iter().filter(|(_, v)| *v != 0)
    }
}

impl core::fmt::Display for Counters {
    /// `Name value` pairs of the non-zero counters, space separated.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (name, value) in self.nonzero() {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{name} {value}")?;
            first = false;
        }
        Ok(())
    }
}
