//! Input on an exec or subsystem channel that arrives before the command's decision.
//!
//! russh 0.65 gives the operator more SSH window as soon as data arrives on a channel, not
//! when the channel reads it, and offers no call to withhold it for one channel. Its only
//! brake is the channel's queue: once a channel stops reading and its `channel_buffer_size`
//! messages are queued, russh stops reading the connection's socket, so TCP stops the
//! operator's writes. That pauses every channel of the connection, not only this one.
//!
//! So a channel holds up to [`HELD_INPUT_LIMIT`] itself. Beyond it, a channel alone on its
//! connection stops reading until the decision (`tar c . | ssh bastion 'tar x'` simply waits);
//! beside other channels it refuses the command whole rather than freeze them (a shell on
//! the same connection would stop echoing). Invariant: held input is never cut short nor
//! dropped; it reaches the target only after an approval, in order, ahead of later input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::gate::HELD_INPUT_LIMIT;

/// The operator channels of one connection that are being served.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChannels(Arc<AtomicUsize>);

impl ConnectionChannels {
    /// Counts one more channel for as long as the returned presence lives.
    pub fn enter(&self) -> ChannelPresence {
        self.0.fetch_add(1, Ordering::AcqRel);
        ChannelPresence(self.clone())
    }
}

/// One channel's place among its connection's channels; leaves when dropped.
#[derive(Debug)]
pub struct ChannelPresence(ConnectionChannels);

impl ChannelPresence {
    /// No other channel of the connection is served: pausing the connection stalls no one
    /// else.
    pub fn alone(&self) -> bool {
        (self.0).0.load(Ordering::Acquire) == 1
    }
}

impl Drop for ChannelPresence {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What becomes of input that arrived before the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Kept; read on.
    Held,
    /// Kept, and the held input is full: stop reading the channel until the decision.
    Pause,
    /// Too much to keep and no way to pause: refuse the command.
    Refuse,
}

/// Input held until the channel's command is approved.
#[derive(Debug, Default)]
pub struct HeldInput {
    bytes: Vec<u8>,
}

impl HeldInput {
    /// Input before the channel asked for anything: refused beyond the limit, since pausing
    /// would also hold back the request that says what the channel is for, which comes
    /// behind it.
    pub fn before_request(&mut self, data: &[u8]) -> Arrival {
        if self.bytes.len() + data.len() > HELD_INPUT_LIMIT {
            return Arrival::Refuse;
        }
        self.bytes.extend_from_slice(data);
        Arrival::Held
    }

    /// Input while the command waits for its decision: once the limit is reached, a
    /// channel `alone` on its connection pauses, another one refuses. At most one message
    /// (russh's maximum packet size) is held beyond the limit.
    pub fn awaiting(&mut self, data: &[u8], alone: bool) -> Arrival {
        let total = self.bytes.len() + data.len();
        if total > HELD_INPUT_LIMIT && !alone {
            return Arrival::Refuse;
        }
        self.bytes.extend_from_slice(data);
        if alone && total >= HELD_INPUT_LIMIT {
            Arrival::Pause
        } else {
            Arrival::Held
        }
    }

    /// Everything held, in arrival order; nothing is held after.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_alone_until_another_enters_and_again_once_it_leaves() {
        let channels = ConnectionChannels::default();
        let first = channels.enter();
        assert!(first.alone());
        let second = channels.enter();
        assert!(!first.alone() && !second.alone());
        drop(second);
        assert!(first.alone());
    }

    #[test]
    fn awaiting_alone_holds_everything_then_pauses_at_the_limit() {
        let mut held = HeldInput::default();
        let half = vec![b'a'; HELD_INPUT_LIMIT / 2];
        assert_eq!(held.awaiting(&half, true), Arrival::Held);
        assert_eq!(held.awaiting(b"b", true), Arrival::Held);
        assert_eq!(held.awaiting(&half, true), Arrival::Pause);
        let bytes = held.take();
        assert_eq!(bytes.len(), HELD_INPUT_LIMIT + 1);
        assert_eq!(bytes[HELD_INPUT_LIMIT / 2], b'b');
        assert!(held.take().is_empty());
    }

    #[test]
    fn awaiting_beside_other_channels_refuses_beyond_the_limit_and_keeps_nothing_cut() {
        let mut held = HeldInput::default();
        let most = vec![b'a'; HELD_INPUT_LIMIT - 1];
        assert_eq!(held.awaiting(&most, false), Arrival::Held);
        // Exactly full: no pause, since pausing would stall the other channels.
        assert_eq!(held.awaiting(b"b", false), Arrival::Held);
        assert_eq!(held.awaiting(b"c", false), Arrival::Refuse);
        assert_eq!(held.take().len(), HELD_INPUT_LIMIT);
    }

    #[test]
    fn before_a_request_more_than_the_limit_is_refused_even_alone() {
        let mut held = HeldInput::default();
        assert_eq!(
            held.before_request(&vec![b'a'; HELD_INPUT_LIMIT]),
            Arrival::Held
        );
        assert_eq!(held.before_request(b"b"), Arrival::Refuse);
    }
}
