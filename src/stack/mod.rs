//! The stack: many connections, demultiplexed by 4-tuple.
