//! The [`Stack`] as a simulated host: its sans-IO surface is the [`Endpoint`] the network
//! drives. The stack knows nothing of the simulator; the simulator adapts it.

use super::Endpoint;
use crate::stack::Stack;
use crate::time::Instant;

impl Endpoint for Stack {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        Stack::handle_packet(self, now, packet);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Stack::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Stack::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Stack::handle_timeout(self, now);
    }
    fn set_liveness_checks(&mut self, on: bool) {
        Stack::set_liveness_checks(self, on);
    }
    fn take_stall(&mut self) -> Option<std::string::String> {
        Stack::take_stall(self).map(|s| s.to_string())
    }
}
