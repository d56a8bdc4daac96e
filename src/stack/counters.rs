//! Stack-wide counters, named after Linux's `nstat` where one exists.

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
    /// RSTs not sent because the reply queue was full.
    pub rst_queue_full: u64,
    /// Segments not sent because the caller's buffer was too small.
    pub out_buffer_too_small: u64,
    /// Packets whose IP protocol is neither TCP nor ICMP: ignored (not an error).
    pub in_unknown_protos: u64,
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
    /// Echo requests not answered because the reply queue was full.
    pub icmp_out_drops: u64,
}
