//! When a fetched asset is announced in the DHT: once fetching pauses, not at once.
//!
//! Each Kademlia announcement is a query to the DHT nodes (a lookup of the key's closest peers,
//! then `ADD_PROVIDER` to them): a few messages to the bootstrap node, with their encryption
//! and framing, on the thread that also serves the page. A page load fetches dozens of assets
//! in a burst, and announcing each as it completes put that work between the burst's
//! requests. So a root fetched (or restored) is queued, and the queue goes out once no new root
//! was queued for [`ANNOUNCE_QUIET`], or [`ANNOUNCE_MAX_WAIT`] after the oldest was queued, whichever comes
//! first. Connected mesh peers still learn of it at once (`summary.rs`): only the DHT, where
//! nodes not connected yet look, hears of it up to [`ANNOUNCE_MAX_WAIT`] later.

use std::time::Duration;

use cid::Cid;
use mesh_core::time::Instant as CoreInstant;

/// Announce once no root was queued for this long.
pub const ANNOUNCE_QUIET: Duration = Duration::from_millis(250);
/// Announce at the latest this long after the oldest queued root.
pub const ANNOUNCE_MAX_WAIT: Duration = Duration::from_secs(2);

/// Roots waiting to be announced in the DHT.
#[derive(Debug, Default)]
pub(crate) struct Announcements {
    pending: Vec<Cid>,
    /// When the oldest and the newest pending root were queued.
    queued: Option<(CoreInstant, CoreInstant)>,
}

impl Announcements {
    /// Queues `root` (once).
    pub(crate) fn queue(&mut self, root: Cid, now: CoreInstant) {
        if !self.pending.contains(&root) {
            self.pending.push(root);
        }
        let first = self.queued.map_or(now, |(first, _)| first);
        self.queued = Some((first, now));
    }

    /// When the queue goes out, if anything is queued.
    pub(crate) fn poll_timeout(&self) -> Option<CoreInstant> {
        self.queued
            .map(|(first, last)| (last + ANNOUNCE_QUIET).min(first + ANNOUNCE_MAX_WAIT))
    }

    /// The queued roots, oldest first, if their time has come (empty otherwise).
    pub(crate) fn take_due(&mut self, now: CoreInstant) -> Vec<Cid> {
        if self.poll_timeout().is_some_and(|due| due <= now) {
            self.take_all()
        } else {
            Vec::new()
        }
    }

    /// Empties the queue: everything was announced another way, or must not be.
    pub(crate) fn take_all(&mut self) -> Vec<Cid> {
        self.queued = None;
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::dag::build_dag;

    fn cid(seed: u8) -> Cid {
        build_dag(&[seed; 10]).root.cid
    }

    fn at(ms: u64) -> CoreInstant {
        CoreInstant::from_millis(ms)
    }

    #[test]
    fn goes_out_once_nothing_new_came_for_a_while() {
        let mut a = Announcements::default();
        assert_eq!(a.poll_timeout(), None);
        a.queue(cid(1), at(0));
        a.queue(cid(2), at(100));
        a.queue(cid(1), at(200));
        assert_eq!(a.poll_timeout(), Some(at(450)));
        assert!(a.take_due(at(449)).is_empty());
        assert_eq!(a.take_due(at(450)), vec![cid(1), cid(2)]);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn a_steady_stream_of_roots_goes_out_after_max_wait() {
        let mut a = Announcements::default();
        for i in 0..=20u8 {
            a.queue(cid(i), at(u64::from(i) * 100));
        }
        assert_eq!(a.poll_timeout(), Some(at(2_000)));
        assert_eq!(a.take_due(at(2_000)).len(), 21);
        a.queue(cid(30), at(2_100));
        assert_eq!(
            a.poll_timeout(),
            Some(at(2_350)),
            "a new queue, a new clock"
        );
    }
}
