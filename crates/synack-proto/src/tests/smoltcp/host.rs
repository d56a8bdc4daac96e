//! The smoltcp host: a `phy::Device` over two queues, an `Interface` and one TCP socket,
//! behind the simulator's [`Endpoint`]; and [`Host`], which lets one `Network` hold both
//! stacks.

use super::BUFFER;
use crate::sim::Endpoint;
use crate::stack::Stack;
use crate::time::Instant;
use ::smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use ::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use ::smoltcp::socket::tcp as smol;
use ::smoltcp::time::Instant as SmolInstant;
use ::smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

fn smol_now(now: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(now.total_micros()).unwrap())
}

fn from_smol(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// A smoltcp `phy::Device` over two queues: packets the simulator delivered (`rx`) and
/// packets smoltcp sent (`tx`). Raw IP, no link layer, MTU 1500 like synack's default.
#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct RxToken(Vec<u8>);

struct TxToken<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0; len];
        let r = f(&mut packet);
        self.0.push_back(packet);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(RxToken, TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((RxToken(packet), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

/// A smoltcp host: one interface, one TCP socket (smoltcp has no backlog: one socket is
/// one connection), and the deadline its last poll asked for.
pub(super) struct SmolHost {
    iface: Interface,
    device: Queues,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    deadline: Option<Instant>,
    /// The socket's state after the last poll, and what it went through.
    pub(super) last: smol::State,
    pub(super) saw_time_wait: bool,
    /// Set once the socket reached CLOSED from TIME-WAIT or LAST-ACK: the normal ends.
    pub(super) closed_cleanly: bool,
    /// Set if the socket reached CLOSED other than from TIME-WAIT or LAST-ACK: a reset.
    pub(super) abnormal_close: Option<smol::State>,
}

impl SmolHost {
    pub(super) fn new(seed: u64, addrs: &[IpAddr]) -> Self {
        let mut device = Queues::default();
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, SmolInstant::ZERO);
        iface.update_ip_addrs(|ips| {
            for addr in addrs {
                let prefix = if addr.is_ipv4() { 24 } else { 64 };
                ips.push(IpCidr::new(IpAddress::from(*addr), prefix))
                    .unwrap();
            }
        });
        let socket = smol::Socket::new(
            smol::SocketBuffer::new(vec![0; BUFFER]),
            smol::SocketBuffer::new(vec![0; BUFFER]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        SmolHost {
            iface,
            device,
            sockets,
            handle,
            deadline: None,
            last: smol::State::Closed,
            saw_time_wait: false,
            closed_cleanly: false,
            abnormal_close: None,
        }
    }

    pub(super) fn socket(&mut self) -> &mut smol::Socket<'static> {
        self.sockets.get_mut::<smol::Socket>(self.handle)
    }

    pub(super) fn state(&self) -> smol::State {
        self.sockets.get::<smol::Socket>(self.handle).state()
    }

    pub(super) fn listen(&mut self, port: u16) {
        self.socket().listen(port).unwrap();
        self.last = smol::State::Listen;
    }

    pub(super) fn connect(&mut self, now: Instant, remote: SocketAddr, local_port: u16) {
        let remote = (IpAddress::from(remote.ip()), remote.port());
        let socket = self.sockets.get_mut::<smol::Socket>(self.handle);
        socket
            .connect(self.iface.context(), remote, local_port)
            .unwrap();
        self.poll(now);
    }

    /// Runs smoltcp: takes in what arrived, sends what it wants, and records the socket's
    /// state and next deadline.
    pub(super) fn poll(&mut self, now: Instant) {
        let t = smol_now(now);
        self.iface.poll(t, &mut self.device, &mut self.sockets);
        self.observe();
        // smoltcp reports "poll now" as a deadline at time zero; the device never refuses a
        // packet, so after a poll that only happens if smoltcp is stuck. The simulator would
        // fire such a deadline at this instant forever: poll a bounded number of times more.
        self.deadline = self.iface.poll_at(t, &self.sockets).map(from_smol);
        for _ in 0..4 {
            if self.deadline.is_none_or(|d| d > now) {
                break;
            }
            self.iface.poll(t, &mut self.device, &mut self.sockets);
            self.observe();
            self.deadline = self.iface.poll_at(t, &self.sockets).map(from_smol);
        }
        assert!(
            self.deadline.is_none_or(|d| d > now),
            "smoltcp keeps asking to be polled at {now:?} in {}",
            self.state()
        );
    }

    fn observe(&mut self) {
        let state = self.state();
        if state == self.last {
            return;
        }
        if state == smol::State::TimeWait {
            self.saw_time_wait = true;
        }
        if state == smol::State::Closed {
            if matches!(self.last, smol::State::TimeWait | smol::State::LastAck) {
                self.closed_cleanly = true;
            } else {
                self.abnormal_close.get_or_insert(self.last);
            }
        }
        self.last = state;
    }
}

impl Endpoint for SmolHost {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.device.rx.push_back(packet.to_vec());
        self.poll(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.device.tx.is_empty() {
            // The application may have sent, read or closed since the last poll.
            self.poll(now);
        }
        let packet = self.device.tx.pop_front()?;
        if let Some(dst) = buf.get_mut(..packet.len()) {
            dst.copy_from_slice(&packet);
        }
        Some(packet.len())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.poll(now);
    }
}

/// A simulated host: synack or smoltcp (`Network` holds one host type).
pub(super) enum Host {
    Synack(Box<Stack>),
    Smol(Box<SmolHost>),
}

impl Host {
    pub(super) fn stack(&mut self) -> &mut Stack {
        match self {
            Host::Synack(s) => s,
            Host::Smol(_) => panic!("not a synack host"),
        }
    }

    pub(super) fn stack_ref(&self) -> &Stack {
        match self {
            Host::Synack(s) => s,
            Host::Smol(_) => panic!("not a synack host"),
        }
    }

    pub(super) fn smol(&mut self) -> &mut SmolHost {
        match self {
            Host::Smol(h) => h,
            Host::Synack(_) => panic!("not a smoltcp host"),
        }
    }

    pub(super) fn smol_ref(&self) -> &SmolHost {
        match self {
            Host::Smol(h) => h,
            Host::Synack(_) => panic!("not a smoltcp host"),
        }
    }
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Host::Synack(s) => s.handle_packet(now, packet),
            Host::Smol(h) => h.handle_packet(now, packet),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Host::Synack(s) => Endpoint::poll_transmit(s.as_mut(), now, buf),
            Host::Smol(h) => h.poll_transmit(now, buf),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Host::Synack(s) => Endpoint::poll_timeout(s.as_ref()),
            Host::Smol(h) => h.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Host::Synack(s) => Endpoint::handle_timeout(s.as_mut(), now),
            Host::Smol(h) => h.handle_timeout(now),
        }
    }
}
