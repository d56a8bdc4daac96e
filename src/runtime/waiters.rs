//! A bounded set of wakers waiting for one thing (a connection direction, a listener).

use std::task::Waker;

/// Most wakers kept per set. Registering beyond it evicts the oldest, to be woken (a spurious
/// wake-up, which every waiter tolerates), so stale wakers of dropped futures cannot pile up.
const MAX_WAITERS: usize = 64;

/// Tasks and threads waiting for the same readiness.
#[derive(Debug, Default)]
pub(crate) struct Waiters(Vec<Waker>);

impl Waiters {
    /// Adds `waker` unless an equivalent one is already there; returns the waker evicted to
    /// stay bounded, which the caller must wake.
    pub(crate) fn register(&mut self, waker: &Waker) -> Option<Waker> {
        if self.0.iter().any(|w| w.will_wake(waker)) {
            return None;
        }
        let evicted = (self.0.len() >= MAX_WAITERS).then(|| self.0.remove(0));
        self.0.push(waker.clone());
        evicted
    }

    /// Removes `waker` (its waiter stopped waiting).
    pub(crate) fn deregister(&mut self, waker: &Waker) {
        self.0.retain(|w| !w.will_wake(waker));
    }

    /// Forgets every waiter, moving it to `out` to be woken (once the lock is released).
    pub(crate) fn take_all(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn waiters_stay_bounded_by_waking_the_oldest() {
        let counts: Vec<Arc<Count>> = (0..MAX_WAITERS + 3).map(|_| Arc::default()).collect();
        let mut w = Waiters::default();
        for c in &counts {
            for _ in 0..2 {
                if let Some(evicted) = w.register(&Waker::from(c.clone())) {
                    evicted.wake();
                }
            }
        }
        assert_eq!(w.0.len(), MAX_WAITERS);
        let woken: usize = counts.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        assert_eq!(woken, 3);
        let mut all = Vec::new();
        w.take_all(&mut all);
        all.into_iter().for_each(Waker::wake);
        let woken: usize = counts.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        assert_eq!(woken, MAX_WAITERS + 3);
    }
}
