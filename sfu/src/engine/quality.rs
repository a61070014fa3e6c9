//! Connection quality: how well each participant's media path carries its media, from its ICE
//! state, loss and round trip, announced to the room when it changes. A participant whose
//! network drops shows as `lost` while it has the resume window to come back; the others see
//! no leave and no join. Each message also says what the server withholds from the room while
//! its worker is overloaded (`overload`).

use super::*;
use parley_proto::{ConnectionQuality, ConnectionQualityInfo};
use str0m::stats::PeerStats;

/// How often connection quality is judged.
pub(super) const QUALITY_CHECK: Duration = Duration::from_secs(1);
/// A publisher with an unmuted track whose packets stop this long has lost its network (ICE
/// itself waits much longer before it gives a connection up).
const MEDIA_SILENCE: Duration = Duration::from_millis(2500);
/// A connection nothing at all came from this long has lost its network: clients check an
/// idle connection's consent every 5 s or so (RFC 7675).
const IDLE_SILENCE: Duration = Duration::from_secs(8);

/// The quality of a connection from what its two peer connections report.
pub(super) fn judge(lost: bool, links: &[LinkStats]) -> ConnectionQuality {
    if lost {
        return ConnectionQuality::Lost;
    }
    let loss = links.iter().map(|l| l.loss).fold(0.0, f32::max);
    let rtt = links.iter().filter_map(|l| l.rtt).max();
    let rtt_under = |ms: u64| rtt.is_none_or(|r| r < Duration::from_millis(ms));
    if loss < 0.02 && rtt_under(300) {
        ConnectionQuality::Excellent
    } else if loss < 0.08 && rtt_under(600) {
        ConnectionQuality::Good
    } else {
        ConnectionQuality::Poor
    }
}

/// Nothing comes from the participant any more: its media stopped though a track is unmuted,
/// or one of its connections is entirely quiet.
fn silent(p: &Participant, now: Instant) -> bool {
    let quiet = |since: Instant, limit: Duration| now.saturating_duration_since(since) >= limit;
    // A simulcast track dynacast paused entirely (nobody watches) sends nothing, rightly.
    let sending = p.tracks.iter().any(|t| {
        !t.info.muted
            && !t.admin_muted
            && (t.layers.is_empty() || t.layers.iter().any(|l| l.enabled))
    });
    let idle = |peer: &Peer| peer.connected && quiet(peer.last_heard, IDLE_SILENCE);
    (sending && p.last_media.is_some_and(|at| quiet(at, MEDIA_SILENCE)))
        || idle(&p.publisher)
        || idle(&p.subscriber)
}

impl Engine {
    /// A peer connection's periodic figures: the loss on what it receives (publisher) or what
    /// it sends, as the client reports it (subscriber).
    pub(super) fn peer_stats(&mut self, key: ParticipantKey, side: Side, stats: &PeerStats) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        let loss = match side {
            Side::Publisher => stats.ingress_loss_fraction,
            Side::Subscriber => stats.egress_loss_fraction,
        };
        p.link[side as usize] = LinkStats {
            loss: loss.unwrap_or(0.0).clamp(0.0, 1.0),
            rtt: stats.rtt,
        };
        if side == Side::Subscriber {
            p.delivery.record(
                stats.peer_bytes_tx,
                p.link[side as usize].loss,
                stats.timestamp,
            );
            tracing::debug!(
                participant = %p.sid,
                carried = ?p.delivery.carried(stats.timestamp),
                loss = p.link[side as usize].loss,
                "subscriber delivery"
            );
        }
        if let (Side::Subscriber, Some(bwe)) = (side, stats.bwe_tx) {
            self.metrics.bandwidth_estimate.observe(bwe.as_f64());
        }
    }

    /// Tell a participant that just joined or resumed (it follows `joined`) the current quality
    /// of every member it can see, itself included: later messages only carry changes.
    pub(super) fn tell_qualities(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let Some(room) = self.rooms.get(&p.room) else {
            return;
        };
        let updates = room
            .members
            .iter()
            .filter_map(|k| self.participants.get(k).map(|o| (k, o)))
            .filter(|(k, o)| **k == key || !o.grants.hidden)
            .map(|(_, o)| ConnectionQualityInfo {
                participant: o.sid.clone(),
                quality: o.quality,
            })
            .collect();
        let msg = RtcServerMessage::ConnectionQuality {
            updates,
            shedding: self.overload.level(),
        };
        signal(key, p, msg, &mut self.doomed);
    }

    /// Judge every participant's connection and tell each room whose quality changed.
    pub(super) fn check_quality(&mut self, now: Instant) {
        let Engine {
            rooms,
            participants,
            doomed,
            overload,
            ..
        } = self;
        for room in rooms.values() {
            let mut updates = Vec::new();
            for key in &room.members {
                let Some(p) = participants.get_mut(key) else {
                    continue;
                };
                let lost = p.publisher.lost_for(MEDIA_SILENCE, now)
                    || p.subscriber.lost_for(MEDIA_SILENCE, now)
                    || silent(p, now);
                let quality = judge(lost, &p.link);
                if quality != p.quality {
                    p.quality = quality;
                    if !p.grants.hidden {
                        updates.push(ConnectionQualityInfo {
                            participant: p.sid.clone(),
                            quality,
                        });
                    }
                }
            }
            if updates.is_empty() {
                continue;
            }
            let msg = RtcServerMessage::ConnectionQuality {
                updates,
                shedding: overload.level(),
            };
            for key in &room.members {
                if let Some(p) = participants.get(key) {
                    signal(*key, p, msg.clone(), doomed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_round_trip_grade_a_connection() {
        let link = |loss: f32, rtt_ms: u64| LinkStats {
            loss,
            rtt: Some(Duration::from_millis(rtt_ms)),
        };
        let clean = link(0.0, 20);
        assert_eq!(judge(false, &[clean, clean]), ConnectionQuality::Excellent);
        assert_eq!(
            judge(false, &[LinkStats::default(); 2]),
            ConnectionQuality::Excellent
        );
        assert_eq!(
            judge(false, &[clean, link(0.05, 20)]),
            ConnectionQuality::Good
        );
        assert_eq!(
            judge(false, &[link(0.0, 400), clean]),
            ConnectionQuality::Good
        );
        assert_eq!(
            judge(false, &[link(0.2, 20), clean]),
            ConnectionQuality::Poor
        );
        assert_eq!(
            judge(false, &[clean, link(0.0, 900)]),
            ConnectionQuality::Poor
        );
        assert_eq!(judge(true, &[clean, clean]), ConnectionQuality::Lost);
    }
}
