//! Buffer autotuning: the send and receive buffers sized by need, as Linux's are.
//! [`Config::send_buffer`](super::Config::send_buffer) and
//! [`Config::recv_buffer`](super::Config::recv_buffer) are maxima; a connection starts
//! small and grows toward them only while its load asks for it.
//!
//! **Receive** (Linux's dynamic right-sizing, `tcp_rcv_space_adjust`). The window we
//! advertise may cover at most [`Autotune::rcv_buf`] bytes beyond the application's read
//! point. It starts at [`initial_window`]: ten segments, the most a peer sends in its first
//! round trip (RFC 6928's initial window; Linux's `TCP_DEFAULT_INIT_RCVWND`). Once per
//! round trip (one smoothed RTT, checked whenever we advertise a window) the bytes the
//! application read in that round, `copied`, are measured. If `2 × copied` exceeds the
//! limit, the limit becomes `2 × copied` (one round trip of data in flight while the
//! previous one is read, and room for a loss to be repaired), doubled once more if the
//! round read more than the one before (a sender in slow start doubles its rate per round
//! trip, and the window we advertise now is used a round trip later), never above the
//! maximum. The limit never grows on bytes that arrive but are not read: a slow reader
//! holds the peer to what it consumes, so memory follows the load.
//!
//! **Send** (Linux's `tcp_sndbuf_expand`). The application may queue at most
//! [`Autotune::snd_buf`] bytes: twice the congestion window (one window in flight, one
//! ready to follow, which also covers CUBIC's 0.7 × window sent during fast recovery), at
//! least twice the initial window, never above the maximum. It grows as the window grows.
//!
//! **Idle.** Neither limit shrinks while the connection is busy (a shrinking window could
//! only be honoured by retracting the right edge already advertised, which RFC 9293
//! §3.8.6.2.2 forbids: SHLD-14). When a buffer has stayed empty for
//! [`RECLAIM_IDLE`](super::RECLAIM_IDLE) its storage is freed and its limit returns to the
//! initial size, as the congestion window restarts after idle (RFC 5681 §4.1). The right
//! edge already advertised stays where it is: the smaller receive limit takes effect as the
//! peer uses up the window it was given.
//!
//! **Memory pressure.** When the stack's buffers together pass its budget
//! (`StackConfig::memory_pressure`, Linux's `tcp_mem[1]`), the stack tells each connection it
//! touches ([`Autotune::set_pressure`]): both limits drop to [`PRESSURE_SEGMENTS`] segments
//! (Linux clamps the receive window so; the send limit, otherwise at least two initial
//! windows, follows, so ten thousand busy connections hold tens of megabytes, not hundreds;
//! bytes already held stay until they drain, and no advertised right edge is retracted) and neither grows (the receive measurement goes on, so growth resumes where
//! the load asks once the pressure is over), and a buffer is freed as soon as it is empty
//! rather than after the idle delay (Linux's `tcp_under_memory_pressure`: no
//! `tcp_sndbuf_expand`, the receive window clamped, `sk_mem_reclaim` at once).

use super::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Segments in the initial receive window and in the send floor (RFC 6928's IW10).
pub const INITIAL_SEGMENTS: usize = 10;

/// Segments either limit holds under memory pressure: Linux's clamp of the receive window
/// (`tcp_adjust_rcv_ssthresh`: four times the advertised MSS).
pub const PRESSURE_SEGMENTS: usize = 4;

/// The initial receive window for a maximum segment size of `mss`, before the
/// configured maximum applies: ten segments of up to 1460 bytes; for a larger MSS the same
/// 14,600 bytes, at least two segments (Linux's `tcp_select_initial_window`).
pub fn initial_window(mss: usize) -> usize {
    const ETHERNET_MSS: usize = 1460;
    if mss > ETHERNET_MSS {
        (INITIAL_SEGMENTS * ETHERNET_MSS).max(2 * mss)
    } else {
        INITIAL_SEGMENTS * mss.max(1)
    }
}

/// The autotuned buffer limits of one connection and the receive measurement in progress
/// (see the module docs). Byte counts are 32-bit: no buffer exceeds 2^30 bytes (RFC 7323's
/// largest window), and anything larger is clamped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Autotune {
    /// The most bytes the advertised window may cover beyond the read point (Linux's
    /// `window_clamp` following `sk_rcvbuf`).
    rcv_buf: u32,
    /// Bytes read in the last measured round (Linux's `rcvq_space.space`).
    rcv_last: u32,
    /// The read point (sequence number of the next byte the application reads) when the
    /// round in progress began (`rcvq_space.seq`).
    rcv_seq: SeqNum,
    /// When that round began (`rcvq_space.time`), in milliseconds of [`Instant`], modulo
    /// 2^32 (as the timestamp clock: compared by wrapping difference). A millisecond is a
    /// fine enough grain: a round shorter than that only makes the window a little larger.
    rcv_time_ms: u32,
    /// The most bytes the application may have queued to send (`sk_sndbuf`).
    snd_buf: u32,
    /// The receiver's own round-trip sample in milliseconds: our timestamp clock less the
    /// TSecr of the latest data segment (Linux's `tcp_rcv_rtt_measure_ts`). A connection
    /// that only receives takes no RTT samples as a sender after the handshake, and its
    /// rounds must still lengthen when the path's queue does.
    rcv_rtt_ms: u16,
    /// The stack is under memory pressure ([`Autotune::set_pressure`]): neither limit grows.
    pressure: bool,
}

/// `n` as a 32-bit count, clamped.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Autotune {
    /// Limits at their initial sizes for a connection whose segments carry up to `mss`
    /// bytes, under the maxima `send_max` and `recv_max`.
    pub fn new(mss: usize, send_max: usize, recv_max: usize) -> Self {
        let mut a = Autotune::default();
        a.reset_receive(mss, recv_max);
        a.reset_send(mss, send_max);
        a
    }

    /// The most bytes the advertised window may cover beyond the read point.
    pub fn rcv_buf(&self) -> usize {
        self.rcv_buf as usize
    }

    /// The most bytes the application may have queued to send.
    pub fn snd_buf(&self) -> usize {
        self.snd_buf as usize
    }

    /// The receive limit back at its initial size (after idle, or at the handshake).
    pub fn reset_receive(&mut self, mss: usize, recv_max: usize) {
        self.rcv_buf = to_u32(initial_window(mss).min(recv_max));
        self.rcv_last = 0;
    }

    /// The send limit back at its initial size.
    pub fn reset_send(&mut self, mss: usize, send_max: usize) {
        self.snd_buf = to_u32((2 * INITIAL_SEGMENTS * mss.max(1)).min(send_max));
    }

    /// Starts a receive measurement at read point `read_seq` (the handshake sets RCV.NXT).
    /// The first round ends at the first window advertised after it.
    pub fn start_receive(&mut self, read_seq: SeqNum) {
        self.rcv_seq = read_seq;
        self.rcv_time_ms = 0;
    }

    /// A data segment echoed our timestamp `rtt_ms` milliseconds ago.
    /// Samples of a minute or more are clamped (the caller discards them anyway).
    pub fn on_data_rtt(&mut self, rtt_ms: u32) {
        self.rcv_rtt_ms = u16::try_from(rtt_ms).unwrap_or(u16::MAX);
    }

    /// The length of a measurement round: the sender's smoothed RTT `srtt`, or the
    /// receiver's own sample if that is longer.
    pub fn round(&self, srtt: Duration) -> Duration {
        srtt.max(Duration::from_millis(u64::from(self.rcv_rtt_ms)))
    }

    /// Dynamic right-sizing: called whenever a window is about to be advertised, at `now`
    /// with the read point at `read_seq` and a round trip of `rtt`. Once the round in
    /// progress has lasted `rtt`, it is measured and the receive limit grows as the module
    /// docs say, up to `recv_max`. Returns whether the limit grew.
    pub fn on_advertise(
        &mut self,
        now: Instant,
        read_seq: SeqNum,
        rtt: Duration,
        recv_max: usize,
    ) -> bool {
        let now_ms = now.total_millis() as u32;
        let elapsed = Duration::from_millis(u64::from(now_ms.wrapping_sub(self.rcv_time_ms)));
        if elapsed < rtt {
            return false;
        }
        let copied = to_u32(read_seq.since(self.rcv_seq));
        let accelerating = copied > self.rcv_last && self.rcv_last > 0;
        self.rcv_seq = read_seq;
        self.rcv_time_ms = now_ms;
        self.rcv_last = copied;
        let mut want = 2 * u64::from(copied);
        if accelerating {
            want *= 2;
        }
        let want = want.min(recv_max as u64);
        if want > u64::from(self.rcv_buf) && !self.pressure {
            self.rcv_buf = u32::try_from(want).unwrap_or(u32::MAX);
            return true;
        }
        false
    }

    /// Whether the stack is under memory pressure: while it is, neither limit grows, and
    /// both are held to [`PRESSURE_SEGMENTS`] segments of `mss` (see the module docs).
    pub fn set_pressure(&mut self, on: bool, mss: usize) {
        self.pressure = on;
        if on {
            let floor = to_u32(PRESSURE_SEGMENTS * mss.max(1));
            self.rcv_buf = self.rcv_buf.min(floor);
            self.snd_buf = self.snd_buf.min(floor);
        }
    }

    /// `tcp_sndbuf_expand`: the send limit follows a congestion window of `cwnd` bytes
    /// (twice it), up to `send_max`, except under memory pressure; it never shrinks here.
    pub fn on_cwnd(&mut self, cwnd: usize, send_max: usize) {
        if self.pressure {
            return;
        }
        let want = to_u32(cwnd.saturating_mul(2).min(send_max));
        self.snd_buf = self.snd_buf.max(want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;
    const RTT: Duration = Duration::from_millis(20);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// Limits for MSS 1460 under maxima of 1 MiB, a round started at read point 0, time 0.
    fn tuned() -> Autotune {
        let mut a = Autotune::new(MSS, 1 << 20, 1 << 20);
        a.start_receive(SeqNum::new(0));
        a
    }

    #[test]
    fn initial_window_is_ten_segments_of_at_most_1460_bytes_and_at_least_two_segments() {
        assert_eq!(initial_window(536), 5_360);
        assert_eq!(initial_window(1448), 14_480);
        assert_eq!(initial_window(1460), 14_600);
        assert_eq!(initial_window(8960), 17_920, "two jumbo segments");
        assert_eq!(initial_window(65_495), 130_990);
        assert_eq!(initial_window(0), 10, "never zero");
    }

    #[test]
    fn limits_start_at_the_initial_sizes_under_the_maxima() {
        let a = Autotune::new(MSS, 1 << 20, 1 << 20);
        assert_eq!((a.rcv_buf(), a.snd_buf()), (14_600, 29_200));
        let small = Autotune::new(MSS, 4096, 2048);
        assert_eq!((small.rcv_buf(), small.snd_buf()), (2048, 4096));
    }

    #[test]
    fn receive_limit_is_measured_once_per_round_trip() {
        let mut a = tuned();
        // 19 ms into a 20 ms round: not over, nothing measured.
        assert!(!a.on_advertise(ms(19), SeqNum::new(14_600), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 14_600);
        // At 20 ms the round ends: 14,600 bytes read in it.
        assert!(a.on_advertise(ms(20), SeqNum::new(14_600), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 29_200);
        // The next round began at 20 ms; at 39 ms it is not over.
        assert!(!a.on_advertise(ms(39), SeqNum::new(60_000), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 29_200);
    }

    #[test]
    fn receive_limit_becomes_twice_what_the_application_read_in_a_round() {
        let mut a = tuned();
        assert!(a.on_advertise(ms(20), SeqNum::new(10_000), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 20_000);
    }

    #[test]
    fn receive_limit_doubles_again_while_reads_accelerate() {
        let mut a = tuned();
        assert!(a.on_advertise(ms(20), SeqNum::new(14_600), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 29_200);
        // The next round read twice as much (slow start): 4 × 29,200.
        assert!(a.on_advertise(ms(40), SeqNum::new(14_600 + 29_200), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 116_800);
        // A steady round after it: 2 × what it read, which is less than the limit already.
        assert!(!a.on_advertise(ms(60), SeqNum::new(43_800 + 29_200), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 116_800);
    }

    #[test]
    fn receive_limit_never_grows_for_a_reader_slower_than_half_the_window() {
        let mut a = tuned();
        let mut read = 0;
        for round in 1..=50 {
            read += 7_300; // half the initial window per round trip
            assert!(!a.on_advertise(ms(20 * round), SeqNum::new(read), RTT, 1 << 20));
        }
        assert_eq!(a.rcv_buf(), 14_600);
        // Bytes that arrive but are not read count for nothing.
        assert!(!a.on_advertise(ms(2_000), SeqNum::new(read), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 14_600);
    }

    #[test]
    fn receive_limit_stops_at_the_configured_maximum() {
        let mut a = Autotune::new(MSS, 1 << 20, 60_000);
        a.start_receive(SeqNum::new(0));
        assert!(a.on_advertise(ms(20), SeqNum::new(14_600), RTT, 60_000));
        assert!(a.on_advertise(ms(40), SeqNum::new(43_800), RTT, 60_000));
        assert_eq!(a.rcv_buf(), 60_000);
        assert!(!a.on_advertise(ms(60), SeqNum::new(143_800), RTT, 60_000));
        assert_eq!(a.rcv_buf(), 60_000);
    }

    #[test]
    fn receive_measurement_counts_across_sequence_number_wrap() {
        let mut a = tuned();
        let start = SeqNum::new(u32::MAX - 999);
        a.start_receive(start);
        assert!(a.on_advertise(ms(20), start + 15_000, RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 30_000);
    }

    #[test]
    fn round_is_the_longer_of_the_smoothed_rtt_and_the_receivers_timestamp_sample() {
        let mut a = tuned();
        assert_eq!(a.round(RTT), RTT, "no sample yet");
        a.on_data_rtt(35);
        assert_eq!(a.round(RTT), Duration::from_millis(35));
        assert_eq!(
            a.round(Duration::from_millis(50)),
            Duration::from_millis(50)
        );
        a.on_data_rtt(u32::MAX);
        assert_eq!(a.round(RTT), Duration::from_millis(65_535), "clamped");
    }

    #[test]
    fn send_limit_is_twice_the_congestion_window_and_never_shrinks() {
        let mut a = tuned();
        a.on_cwnd(10_000, 1 << 20);
        assert_eq!(a.snd_buf(), 29_200, "the floor: twice the initial window");
        a.on_cwnd(50_000, 1 << 20);
        assert_eq!(a.snd_buf(), 100_000);
        a.on_cwnd(20_000, 1 << 20);
        assert_eq!(a.snd_buf(), 100_000, "a window cut leaves the limit");
        a.on_cwnd(usize::MAX, 1 << 20);
        assert_eq!(a.snd_buf(), 1 << 20, "the maximum");
    }

    #[test]
    fn resets_return_both_limits_to_their_initial_sizes() {
        let mut a = tuned();
        assert!(a.on_advertise(ms(20), SeqNum::new(14_600), RTT, 1 << 20));
        a.on_cwnd(50_000, 1 << 20);
        a.reset_receive(MSS, 1 << 20);
        a.reset_send(MSS, 1 << 20);
        assert_eq!((a.rcv_buf(), a.snd_buf()), (14_600, 29_200));
        // The reset forgot the last round: the next is not "accelerating".
        a.start_receive(SeqNum::new(100_000));
        assert!(a.on_advertise(ms(100), SeqNum::new(120_000), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 40_000);
    }

    #[test]
    fn under_memory_pressure_both_limits_hold_at_four_segments_and_growth_resumes_after() {
        let mut a = tuned();
        a.set_pressure(true, MSS);
        // Both limits drop to four segments.
        assert_eq!((a.rcv_buf(), a.snd_buf()), (5_840, 5_840));
        // A round that read 14,600 bytes would make the receive limit 29,200: not now.
        assert!(!a.on_advertise(ms(20), SeqNum::new(14_600), RTT, 1 << 20));
        a.on_cwnd(50_000, 1 << 20);
        assert_eq!((a.rcv_buf(), a.snd_buf()), (5_840, 5_840));
        // The measurement went on: the next round, reading more, grows it fourfold.
        a.set_pressure(false, MSS);
        assert!(a.on_advertise(ms(40), SeqNum::new(34_600), RTT, 1 << 20));
        assert_eq!(a.rcv_buf(), 80_000);
        a.on_cwnd(50_000, 1 << 20);
        assert_eq!(a.snd_buf(), 100_000);
    }
}
