//! Souk's protocol state machines, free of I/O.
//!
//! Each machine is driven by `handle(now_ms, randomness, input) -> output`: it never reads a
//! clock, a socket or the OS random generator, so a node runs it on real time and the simulator
//! on simulated time, deterministically.
//!
//! - [`negotiation`]: license negotiation between a buyer and a seller (quote, offer, counter,
//!   accept with a payment voucher), with bounded rounds and expiring, single-use offers;
//!   [`wire`] carries its messages as protobuf, offers and vouchers as signed envelopes.
//! - [`witness`]: when a witness co-signs a log's checkpoint, and when two checkpoints are
//!   evidence of equivocation.

pub mod negotiation;
pub mod wire;
pub mod witness;
