//! Publishing, subscribing and the SDP exchanges on both peer connections; muting.

use super::*;

impl Engine {
    /// Send the subscriber connection an offer for every track added or removed since the last
    /// one, unless an offer is still waiting for its answer.
    pub(super) fn negotiate(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if p.sub_pending.is_some() {
            return;
        }
        let mut api = p.subscriber.rtc.sdp_api();
        let restart = std::mem::take(&mut p.ice_restart);
        if restart {
            api.ice_restart(true);
        }
        let mut added = Vec::new();
        for down in &mut p.down {
            match down.state {
                DownState::ToOpen => {
                    let mid = api.add_media(
                        media_kind(down.info.kind),
                        Direction::SendOnly,
                        // The msid stream: the publisher, or the bridge for its slots.
                        Some(match down.slot {
                            Some(_) => "bridge".to_string(),
                            None => down.info.participant.clone(),
                        }),
                        Some(down.info.sid.clone()),
                        None,
                    );
                    down.state = DownState::Negotiating(mid);
                    added.push(TrackMid {
                        mid: mid.to_string(),
                        track: down.info.clone(),
                    });
                }
                DownState::ToStop(mid) => {
                    // The BUNDLE tag is parked, never stopped (see `Participant::sub_tag`).
                    if p.sub_tag == Some(mid) {
                        api.set_direction(mid, Direction::Inactive);
                    } else {
                        api.stop_media(mid);
                    }
                    down.state = DownState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        let Some((offer, pending)) = api.has_changes().then(|| api.apply()).flatten() else {
            p.ice_restart = restart;
            return;
        };
        p.sub_pending = Some(pending);
        p.sub_pending_restart = restart;
        let msg = RtcServerMessage::Offer {
            sdp: crate::sdp::without_msid_when_inactive(&crate::sdp::candidates_in_every_section(
                &offer.to_sdp_string(),
            )),
            tracks: added,
        };
        p.pending_offer = Some(msg.clone());
        signal(key, p, msg, &mut self.doomed);
        self.mark_dirty(key, Side::Subscriber);
        if restart {
            self.index_ice(key);
        }
    }

    pub(super) fn offer(
        &mut self,
        key: ParticipantKey,
        sdp_text: &str,
        tracks: Vec<PublishTrack>,
    ) -> SfuResult<PublisherAnswer> {
        // The SDP itself was checked against `tracks` on the caller's task (`sdp::check_offer`);
        // what needs the participant's grants is checked here.
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        if p.grants.hidden && !tracks.is_empty() {
            return Err(SfuError::new(
                ErrorCode::InsufficientGrant,
                "hidden participants (recorders) do not publish",
            ));
        }
        let bridge = self.rooms.get(&p.room).is_some_and(|r| r.bridge.is_some());
        if let (true, Some(t)) = (
            bridge,
            tracks.iter().find(|t| t.source.kind() != TrackKind::Audio),
        ) {
            return Err(SfuError::new(
                ErrorCode::InvalidInput,
                format!(
                    "a voice bridge is audio only; `{}` is video",
                    t.source.as_str()
                ),
            ));
        }
        if let Some(t) = tracks.iter().find(|t| !p.grants.may_publish(t.source)) {
            return Err(SfuError::new(
                ErrorCode::InsufficientGrant,
                format!("this token may not publish `{}`", t.source.as_str()),
            ));
        }
        let offer = SdpOffer::from_sdp_string(sdp_text).map_err(|e| {
            SfuError::new(ErrorCode::InvalidSdp, format!("SDP not understood: {e}"))
        })?;
        let answer = p
            .publisher
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::new(ErrorCode::InvalidSdp, format!("offer refused: {e}")))?;

        // Tracks whose m-line stopped sending are unpublished; new ones are published.
        let gone: Vec<String> = p
            .tracks
            .iter()
            .filter(|t| !tracks.iter().any(|n| n.mid == t.mid.to_string()))
            .map(|t| t.info.sid.clone())
            .collect();
        let mut added = Vec::new();
        for t in &tracks {
            let mid: Mid = t.mid.as_str().into();
            if p.tracks.iter().any(|u| u.mid == mid) {
                continue;
            }
            let now = Instant::now();
            let layers: Vec<UpLayer> = t
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| UpLayer::new(i, l, now))
                .collect();
            let info = TrackInfo {
                sid: sid("TR"),
                participant: p.sid.clone(),
                kind: t.source.kind(),
                source: t.source,
                name: t.name.clone(),
                muted: t.muted,
                codec: None,
                layers: layers.iter().map(|l| l.info.clone()).collect(),
            };
            p.tracks.push(UpTrack {
                info: info.clone(),
                mid,
                admin_muted: false,
                clock_rate: match t.source.kind() {
                    TrackKind::Audio => 48_000,
                    TrackKind::Video => 90_000,
                },
                last_keyframe_request: None,
                keyframe_owed: None,
                layers,
            });
            added.push(info);
        }
        let reply = PublisherAnswer {
            sdp: crate::sdp::candidates_in_every_section(&answer.to_sdp_string()),
            tracks: p
                .tracks
                .iter()
                .filter(|t| !gone.contains(&t.info.sid))
                .map(|t| TrackMid {
                    mid: t.mid.to_string(),
                    track: t.info.clone(),
                })
                .collect(),
        };
        self.mark_dirty(key, Side::Publisher);
        for sid in gone {
            self.unpublish(key, &sid)?;
        }
        for info in added {
            self.published(key, info);
        }
        Ok(reply)
    }

    /// Tell the room about a new track and open it to every auto-subscriber.
    pub(super) fn published(&mut self, key: ParticipantKey, info: TrackInfo) {
        self.metrics
            .tracks
            .with_label_values(&[info.kind.as_str(), info.source.as_str()])
            .inc();
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let (room_name, hidden) = (p.room.clone(), p.grants.hidden);
        let mid = p
            .tracks
            .iter()
            .find(|t| t.info.sid == info.sid)
            .map(|t| t.mid);
        let Some(mid) = mid else {
            return;
        };
        let (members, bridge) = self
            .rooms
            .get(&room_name)
            .map(|r| (r.members.clone(), r.bridge.is_some()))
            .unwrap_or_default();
        let mut to_negotiate = Vec::new();
        for member in members {
            if member == key {
                continue;
            }
            let Some(sub) = self.participants.get_mut(&member) else {
                continue;
            };
            if !hidden {
                signal(
                    member,
                    sub,
                    RtcServerMessage::TrackPublished {
                        track: info.clone(),
                    },
                    &mut self.doomed,
                );
            }
            // In a voice bridge, listeners hear speakers through their slots instead.
            if sub.auto_subscribe && sub.grants.can_subscribe && !bridge {
                sub.down.push(DownTrack::of(info.clone(), key, mid));
                to_negotiate.push(member);
            }
        }
        for member in to_negotiate {
            self.negotiate(member);
        }
        if let Some(room) = self.rooms.get(&room_name) {
            let participant = self.participants.get(&key).map(Participant::info);
            self.emit("track_published", room, participant, Some(info));
        }
    }

    pub(super) fn unpublish(&mut self, key: ParticipantKey, track_sid: &str) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let index = p
            .tracks
            .iter()
            .position(|t| t.info.sid == track_sid)
            .ok_or_else(|| not_found(format!("no track `{track_sid}` of yours")))?;
        let track = p.tracks.remove(index);
        p.ssrc_mids.retain(|(_, mid, _)| *mid != track.mid);
        let room_name = p.room.clone();
        let participant = p.info();
        self.metrics
            .tracks
            .with_label_values(&[track.info.kind.as_str(), track.info.source.as_str()])
            .dec();
        self.stop_down_tracks(&room_name, key, Some(track.mid));
        self.broadcast(
            &room_name,
            Some(key),
            RtcServerMessage::TrackUnpublished {
                participant: participant.sid.clone(),
                track: track.info.sid.clone(),
            },
        );
        if let Some(room) = self.rooms.get(&room_name) {
            self.emit(
                "track_unpublished",
                room,
                Some(participant),
                Some(track.info),
            );
        }
        Ok(())
    }

    /// Close every subscriber's copy of a publisher's track (all its tracks with `None`).
    pub(super) fn stop_down_tracks(
        &mut self,
        room: &str,
        publisher: ParticipantKey,
        mid: Option<Mid>,
    ) {
        let members = self
            .rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members {
            let Some(sub) = self.participants.get_mut(&member) else {
                continue;
            };
            let mut changed = false;
            sub.down.retain_mut(|d| {
                if d.publisher != publisher || mid.is_some_and(|m| m != d.up_mid) {
                    return true;
                }
                match d.state {
                    DownState::ToOpen => {
                        changed = true;
                        false
                    }
                    DownState::Open(m) => {
                        d.state = DownState::ToStop(m);
                        changed = true;
                        true
                    }
                    DownState::Negotiating(m) => {
                        // Stopped once the pending offer is answered.
                        d.state = DownState::ToStop(m);
                        changed = true;
                        true
                    }
                    _ => true,
                }
            });
            if changed {
                self.negotiate(member);
            }
        }
    }

    pub(super) fn answer(&mut self, key: ParticipantKey, sdp_text: &str) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let Some(pending) = p.sub_pending.take() else {
            return Err(SfuError::new(
                ErrorCode::InvalidInput,
                "no subscriber offer is waiting for an answer",
            ));
        };
        let answer = match SdpAnswer::from_sdp_string(sdp_text) {
            Ok(a) => a,
            Err(e) => {
                p.sub_pending = Some(pending);
                return Err(SfuError::new(
                    ErrorCode::InvalidSdp,
                    format!("SDP not understood: {e}"),
                ));
            }
        };
        let offered = p.pending_offer.take();
        if let Err(e) = p.subscriber.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is spent; offer its tracks again (and restart ICE again, if it did).
            // Stops of m-lines str0m never applied (added and stopped within the failed offer)
            // have nothing left to stop.
            p.ice_restart |= std::mem::take(&mut p.sub_pending_restart);
            let rtc = &p.subscriber.rtc;
            let parked = p.sub_tag;
            p.down.retain_mut(|d| match d.state {
                DownState::Negotiating(_) => {
                    d.state = DownState::ToOpen;
                    true
                }
                // str0m made the parked m-line inactive at once, answer or not: it stays so,
                // and must not be stopped by the retry.
                DownState::NegotiatingStop(m) | DownState::ToStop(m) if Some(m) == parked => false,
                DownState::NegotiatingStop(m) | DownState::ToStop(m) => {
                    let known = rtc.media(m).is_some_and(|media| !media.stopped());
                    d.state = DownState::ToStop(m);
                    known
                }
                _ => true,
            });
            self.negotiate(key);
            return Err(SfuError::new(
                ErrorCode::InvalidSdp,
                format!("answer refused: {e}; a new offer follows"),
            ));
        }
        p.sub_pending_restart = false;
        if p.sub_tag.is_none() {
            p.sub_tag = offered.as_ref().and_then(|offer| match offer {
                RtcServerMessage::Offer { sdp, .. } => crate::sdp::bundle_tag(sdp).map(Mid::from),
                _ => None,
            });
        }
        let mut wants_keyframe = Vec::new();
        p.down.retain_mut(|d| match d.state {
            DownState::Negotiating(m) => {
                d.state = DownState::Open(m);
                if d.info.kind == TrackKind::Video {
                    wants_keyframe.push((d.publisher, d.up_mid));
                }
                true
            }
            DownState::NegotiatingStop(_) => false,
            _ => true,
        });
        self.mark_dirty(key, Side::Subscriber);
        for (publisher, mid) in wants_keyframe {
            self.request_keyframe(publisher, mid, KeyframeRequestKind::Pli, "new_subscription");
        }
        self.negotiate(key);
        Ok(())
    }

    /// Restart ICE on the subscriber connection with the next offer (now, unless one is
    /// waiting for its answer: then right after it).
    pub(super) fn ice_restart(&mut self, key: ParticipantKey) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        if p.down.is_empty() && !p.subscriber.connected {
            // Never negotiated: the first offer brings fresh credentials anyway.
            return Ok(());
        }
        p.ice_restart = true;
        self.negotiate(key);
        Ok(())
    }

    pub(super) fn candidate(
        &mut self,
        key: ParticipantKey,
        target: PeerTarget,
        line: &str,
    ) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let candidate = Candidate::from_sdp_string(line.strip_prefix("a=").unwrap_or(line))
            .map_err(|e| {
                SfuError::new(
                    ErrorCode::InvalidInput,
                    format!("candidate not understood: {e}"),
                )
            })?;
        let side = match target {
            PeerTarget::Publisher => Side::Publisher,
            PeerTarget::Subscriber => Side::Subscriber,
        };
        p.peer(side).rtc.add_remote_candidate(candidate);
        self.mark_dirty(key, side);
        Ok(())
    }

    pub(super) fn subscribe(
        &mut self,
        key: ParticipantKey,
        tracks: &[String],
        subscribe: bool,
    ) -> SfuResult<()> {
        let p = self.participants.get(&key).ok_or_else(not_in_room)?;
        if subscribe && !p.grants.can_subscribe {
            return Err(SfuError::new(
                ErrorCode::InsufficientGrant,
                "this token may not subscribe",
            ));
        }
        let room = self.rooms.get(&p.room).ok_or_else(not_in_room)?;
        if room.bridge.is_some() {
            return Err(SfuError::new(
                ErrorCode::InvalidInput,
                "a voice bridge sends the loudest speakers on its slots; there is nothing to choose",
            ));
        }
        let mut found = Vec::new();
        for sid in tracks {
            let hit = room.members.iter().filter(|m| **m != key).find_map(|m| {
                let other = self.participants.get(m)?;
                let t = other.tracks.iter().find(|t| &t.info.sid == sid)?;
                Some((*m, t.mid, t.info.clone()))
            });
            found.push(hit.ok_or_else(|| not_found(format!("no track `{sid}` in this room")))?);
        }
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        for (publisher, mid, info) in found {
            let existing = p
                .down
                .iter_mut()
                .find(|d| d.publisher == publisher && d.up_mid == mid && d.active());
            match (subscribe, existing) {
                (true, Some(_)) => {}
                (true, None) => p.down.push(DownTrack::of(info, publisher, mid)),
                (false, Some(d)) => match d.state {
                    DownState::Open(m) | DownState::Negotiating(m) => {
                        d.state = DownState::ToStop(m)
                    }
                    _ => {}
                },
                (false, None) => {}
            }
            if !subscribe {
                p.down.retain(|d| {
                    !(d.publisher == publisher && d.up_mid == mid && d.state == DownState::ToOpen)
                });
            }
        }
        self.negotiate(key);
        Ok(())
    }

    pub(super) fn mute(
        &mut self,
        key: ParticipantKey,
        track_sid: &str,
        muted: bool,
        by_admin: bool,
    ) -> SfuResult<TrackInfo> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let track = p
            .tracks
            .iter_mut()
            .find(|t| t.info.sid == track_sid)
            .ok_or_else(|| not_found(format!("no track `{track_sid}`")))?;
        track.info.muted = muted;
        if by_admin || !muted {
            // A participant may unmute itself after an admin muted it; only a grant change
            // keeps it from publishing.
            track.admin_muted = by_admin && muted;
        }
        let info = track.info.clone();
        let up_mid = track.mid;
        let (room, sid) = (p.room.clone(), p.sid.clone());
        // Subscribers' numbering resumes without a gap after the silence.
        let members = self
            .rooms
            .get(&room)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members {
            if let Some(sub) = self.participants.get_mut(&member) {
                for d in sub
                    .down
                    .iter_mut()
                    .filter(|d| d.publisher == key && d.up_mid == up_mid)
                {
                    if let Some(r) = d.rewriter.as_mut() {
                        r.pause();
                    }
                    // After the silence a simulcast subscription starts again on a keyframe.
                    if let Some(sim) = d.sim.as_mut() {
                        sim.current = None;
                    }
                }
            }
        }
        if !muted {
            self.request_keyframe(key, up_mid, KeyframeRequestKind::Pli, "unmute");
        }
        let msg = RtcServerMessage::TrackMuted {
            participant: sid,
            track: info.sid.clone(),
            muted,
            by_admin,
        };
        self.broadcast(&room, if by_admin { None } else { Some(key) }, msg);
        if muted {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.speakers.forget(&info.participant);
            }
        }
        Ok(info)
    }
}
