//! Commands from the signaling side, rooms opening and closing, participants joining, being
//! changed and leaving.

use super::simulcast::subscribed_qualities;
use super::*;
use parley_proto::ChannelRoom;

impl Engine {
    pub(super) fn command(&mut self, command: Command) {
        match command {
            Command::Join {
                request,
                signal,
                reply,
            } => {
                let _ = reply.send(self.join(request, signal));
            }
            Command::Offer {
                key,
                sdp,
                tracks,
                reply,
            } => {
                let answer = self.offer(key, &sdp, tracks);
                // A client's ICE restart gives our side of it new credentials too.
                self.index_ice(key);
                let _ = reply.send(answer);
            }
            Command::Answer { key, sdp, reply } => {
                let answered = self.answer(key, &sdp);
                // Our ICE restart takes effect with the client's answer: the I/O task must
                // route checks naming the new credentials here.
                self.index_ice(key);
                let _ = reply.send(answered);
            }
            Command::Candidate {
                key,
                target,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.candidate(key, target, &candidate));
            }
            Command::Subscribe {
                key,
                tracks,
                subscribe,
                reply,
            } => {
                let _ = reply.send(self.subscribe(key, &tracks, subscribe));
            }
            Command::Mute {
                key,
                track,
                muted,
                reply,
            } => {
                let _ = reply.send(self.mute(key, &track, muted, false).map(|_| ()));
            }
            Command::SetQuality {
                key,
                track,
                quality,
                reply,
            } => {
                let _ = reply.send(self.set_quality(key, &track, quality));
            }
            Command::IceRestart { key, reply } => {
                let _ = reply.send(self.ice_restart(key));
            }
            Command::RaiseHand { key, raised, reply } => {
                let _ = reply.send(self.raise_hand(key, raised));
            }
            Command::Moderate {
                key,
                participant,
                action,
                reply,
            } => {
                let _ = reply.send(self.moderate(key, &participant, action));
            }
            Command::Unpublish { key, track, reply } => {
                let _ = reply.send(self.unpublish(key, &track));
            }
            Command::Leave { key } => self.doomed.push((key, Departure::Left)),
            Command::CreateRoom { settings, reply } => {
                let _ = reply.send(self.create_room(settings));
            }
            Command::ListRooms { reply } => {
                let mut rooms: Vec<RoomInfo> = self
                    .rooms
                    .values()
                    .map(|r| room_info(r, &self.participants))
                    .collect();
                rooms.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(Ok(rooms));
            }
            Command::GetRoom { name, reply } => {
                let _ = reply.send(self.room_detail(&name));
            }
            Command::EndRoom { name, reply } => {
                let _ = reply.send(self.end_room(&name));
            }
            Command::RemoveParticipant {
                room,
                identity,
                reply,
            } => {
                let result = self.by_identity(&room, &identity).map(|key| {
                    self.doomed
                        .push((key, Departure::Removed(RemovedReason::RemovedByAdmin)));
                });
                let _ = reply.send(result);
            }
            Command::AdminMute {
                room,
                identity,
                track,
                muted,
                reply,
            } => {
                let result = self
                    .by_identity(&room, &identity)
                    .and_then(|key| self.mute(key, &track, muted, true));
                let _ = reply.send(result);
            }
            Command::UpdateGrants {
                room,
                identity,
                grants,
                reply,
            } => {
                let result = self
                    .by_identity(&room, &identity)
                    .and_then(|key| self.update_grants(key, grants));
                let _ = reply.send(result);
            }
            Command::RemoveSignedBy { api_key, reply } => {
                let signed: Vec<ParticipantKey> = self
                    .participants
                    .iter()
                    .filter(|(_, p)| p.api_key.as_deref() == Some(api_key.as_str()))
                    .map(|(key, _)| *key)
                    .collect();
                for key in &signed {
                    self.doomed
                        .push((*key, Departure::Removed(RemovedReason::TokenRevoked)));
                }
                if !signed.is_empty() {
                    tracing::info!(%api_key, participants = signed.len(),
                        "API key revoked: removing the participants its tokens let in");
                }
                // A join whose token was checked before the key was revoked, arriving only
                // now, is refused too.
                self.revoked_keys.insert(api_key);
                let _ = reply.send(Ok(signed.len()));
            }
            #[cfg(test)]
            Command::InjectPanic { key, step, reply } => {
                self.inject.push((key, step));
                self.mark_dirty(key, Side::Publisher);
                let _ = reply.send(Ok(()));
            }
            Command::Shutdown { .. } => {}
        }
    }

    pub(super) fn by_identity(&self, room: &str, identity: &str) -> SfuResult<ParticipantKey> {
        let room = self
            .rooms
            .get(room)
            .ok_or_else(|| not_found(format!("no room `{room}` is open")))?;
        room.members
            .iter()
            .copied()
            .find(|k| {
                self.participants
                    .get(k)
                    .is_some_and(|p| p.identity == identity)
            })
            .ok_or_else(|| not_found(format!("no participant `{identity}` in this room")))
    }

    pub(super) fn emit(
        &self,
        event: &'static str,
        room: &Room,
        participant: Option<ParticipantInfo>,
        track: Option<TrackInfo>,
    ) {
        let event = RoomEvent {
            at: now_ms(),
            event,
            room: room_info(room, &self.participants),
            participant,
            track,
        };
        if self.events.try_send(event).is_err() {
            self.metrics.dropped_room_events.inc();
        }
    }

    /// Open a room, or return the open one of that name if it is for the same channel. A
    /// channel's reserved name (`meeting-<n>`, `bridge-<n>`) opens only as that channel's room
    /// of that kind, so nobody can take it before the channel's call does.
    pub(super) fn create_room(&mut self, settings: RoomSettings) -> SfuResult<RoomInfo> {
        if let Some(reserved) = ChannelRoom::parse(&settings.name) {
            let own = reserved.name() == settings.name
                && settings.channel_id == Some(reserved.channel())
                && settings.bridge.is_some() == reserved.is_bridge();
            if !own {
                return Err(reserved_name(&settings.name, reserved));
            }
        }
        if let Some(room) = self.rooms.get(settings.name.as_str()) {
            if room.channel_id != settings.channel_id {
                return Err(SfuError::new(
                    ErrorCode::Conflict,
                    format!(
                        "room `{}` is open for {}; end it or choose another name",
                        settings.name,
                        match room.channel_id {
                            Some(c) => format!("channel {}", c.0),
                            None => "no channel".into(),
                        }
                    ),
                ));
            }
            return Ok(room_info(room, &self.participants));
        }
        // Another worker may have opened it since this request was routed here: it goes
        // there instead (`Sfu` retries).
        if let Err(other) = self.placement.claim(&settings.name, self.io.worker) {
            return Err(SfuError::moved(other));
        }
        let name: Arc<str> = settings.name.into();
        let room = Room {
            sid: sid("RM"),
            name: name.clone(),
            channel_id: settings.channel_id,
            created_at: now_ms(),
            empty_timeout: settings.empty_timeout.unwrap_or(self.config.empty_timeout),
            max_participants: settings
                .max_participants
                .unwrap_or(self.config.max_participants),
            members: Vec::new(),
            empty_since: Some(Instant::now()),
            speakers: SpeakerDetector::new(),
            last_speakers: Vec::new(),
            current_speakers: Vec::new(),
            bridge: settings.bridge.map(|n| {
                let n = if n == 0 {
                    self.config.bridge_speakers
                } else {
                    n
                };
                vec![None; n]
            }),
            moderated: settings.moderated,
            opened_by: settings.opened_by,
            record: settings.record,
        };
        self.metrics.rooms.inc();
        self.emit("room_started", &room, None, None);
        let info = room_info(&room, &self.participants);
        tracing::info!(room = %name, sid = %room.sid, "room opened");
        self.rooms.insert(name, room);
        Ok(info)
    }

    pub(super) fn close_room(&mut self, name: &str) {
        if let Some(room) = self.rooms.remove(name) {
            self.placement.release(name, self.io.worker);
            self.metrics.rooms.dec();
            self.emit("room_finished", &room, None, None);
            tracing::info!(room = %name, sid = %room.sid, "room closed");
        }
    }

    pub(super) fn room_detail(&self, name: &str) -> SfuResult<RoomDetail> {
        let room = self
            .rooms
            .get(name)
            .ok_or_else(|| not_found(format!("no room `{name}` is open")))?;
        Ok(RoomDetail {
            room: room_info(room, &self.participants),
            participants: room
                .members
                .iter()
                .filter_map(|k| self.participants.get(k))
                .filter(|p| !p.grants.hidden)
                .map(Participant::info)
                .collect(),
            active_speakers: room.current_speakers.clone(),
            raised_hands: raised_hands(room, &self.participants),
        })
    }

    pub(super) fn end_room(&mut self, name: &str) -> SfuResult<()> {
        let room = self
            .rooms
            .get(name)
            .ok_or_else(|| not_found(format!("no room `{name}` is open")))?;
        let members = room.members.clone();
        for key in members {
            self.remove(key, Departure::Removed(RemovedReason::RoomEnded));
        }
        self.close_room(name);
        Ok(())
    }

    pub(super) fn join(
        &mut self,
        request: JoinRequest,
        signal_tx: mpsc::Sender<RtcServerMessage>,
    ) -> SfuResult<Joined> {
        if let Some(key) = request.api_key.as_ref() {
            if self.revoked_keys.contains(key) {
                return Err(SfuError::new(
                    ErrorCode::TokenInvalid,
                    format!("the API key `{key}` that signed this token was revoked"),
                ));
            }
        }
        if let Some(token) = &request.resume {
            return self.resume(&request, token, signal_tx);
        }
        match (self.rooms.get(request.room.as_str()), request.channel) {
            // The room's channel was checked against the user's memberships; it must still be
            // the same room.
            (Some(room), ChannelRule::Exactly(channel)) if room.channel_id != channel => {
                return Err(SfuError::new(
                    ErrorCode::Conflict,
                    "the meeting changed while you were joining; join again",
                ));
            }
            (Some(_), _) => {}
            (None, ChannelRule::Exactly(Some(_))) => {
                return Err(not_found("the meeting closed while you were joining"));
            }
            (None, _) if !request.may_create => {
                return Err(not_found(format!(
                    "no room `{}` is open, and this token may not create one",
                    request.room
                )));
            }
            (None, _) => {
                self.create_room(RoomSettings::named(request.room.clone()))?;
            }
        }
        // The same identity joining again replaces the earlier connection.
        if let Ok(previous) = self.by_identity(&request.room, &request.identity) {
            self.remove(
                previous,
                Departure::Removed(RemovedReason::DuplicateIdentity),
            );
        }
        let room = self
            .rooms
            .get(request.room.as_str())
            .ok_or_else(|| not_found("the room closed"))?;
        let visible = room_info(room, &self.participants).num_participants;
        if !request.grants.hidden && room.max_participants > 0 && visible >= room.max_participants {
            return Err(SfuError::new(
                ErrorCode::RoomFull,
                format!("room `{}` has its {} participants", request.room, visible),
            ));
        }
        let now = Instant::now();
        let key = self.next_key;
        self.next_key = key.next();
        let participant = Participant {
            sid: sid("PA"),
            identity: request.identity,
            name: request.name,
            room: room.name.clone(),
            grants: request.grants,
            joined_at: now_ms(),
            auto_subscribe: request.auto_subscribe,
            signal: signal_tx,
            publisher: Peer::new(
                now,
                &self.io.candidates,
                &self.io.tcp_candidates,
                Side::Publisher,
            ),
            subscriber: Peer::new(
                now,
                &self.io.candidates,
                &self.io.tcp_candidates,
                Side::Subscriber,
            ),
            tracks: Vec::new(),
            ssrc_mids: Vec::new(),
            down: Vec::new(),
            sub_pending: None,
            pending_offer: None,
            resume_token: resume_token(),
            detached_since: None,
            nacks_seen: HashMap::new(),
            bandwidth: Default::default(),
            raises: Default::default(),
            delivery: Default::default(),
            link: Default::default(),
            quality: parley_proto::ConnectionQuality::Excellent,
            last_media: None,
            hand_raised_at: None,
            ice_restart: false,
            sub_tag: None,
            sub_pending_restart: false,
            probing: false,
            api_key: request.api_key,
        };
        let token = participant.resume_token.clone();
        let info = participant.info();
        let hidden = participant.grants.hidden;
        let may_subscribe = participant.grants.can_subscribe;
        let subscribe_all = participant.auto_subscribe && may_subscribe;
        let room_name = participant.room.clone();
        tracing::info!(room = %room_name, participant = %info.sid, identity = %info.identity, "participant joined");
        self.participants.insert(key, participant);
        self.metrics.participants.inc();
        self.placement.joined(self.io.worker);
        self.index_ice(key);

        let room = self
            .rooms
            .get_mut(&room_name)
            .ok_or_else(|| not_found("the room closed"))?;
        let others: Vec<ParticipantKey> = room.members.clone();
        room.members.push(key);
        room.empty_since = None;

        let mut existing = Vec::new();
        let mut downs = Vec::new();
        let bridge = room.bridge.is_some();
        // In a bridge there is nothing to choose: everyone who may listen gets the slots.
        if let (Some(slots), true) = (&room.bridge, may_subscribe) {
            // A voice bridge: one audio m-line per speaker slot, whoever fills it.
            for i in 0..slots.len() {
                downs.push(DownTrack::slot(i));
            }
        }
        for other in &others {
            let Some(p) = self.participants.get(other) else {
                continue;
            };
            if !p.grants.hidden {
                existing.push(p.info());
            }
            // Hidden participants (recorders) are announced to nobody.
            if !hidden {
                signal(
                    *other,
                    p,
                    RtcServerMessage::ParticipantJoined {
                        participant: info.clone(),
                    },
                    &mut self.doomed,
                );
            }
            if subscribe_all && !bridge {
                for t in &p.tracks {
                    downs.push(DownTrack::of(t.info.clone(), *other, t.mid));
                }
            }
        }
        if let Some(p) = self.participants.get_mut(&key) {
            p.down = downs;
        }
        let room = self
            .rooms
            .get(&room_name)
            .ok_or_else(|| not_found("the room closed"))?;
        if !hidden {
            self.emit("participant_joined", room, Some(info.clone()), None);
        }
        let room_info = room_info(room, &self.participants);
        self.tell_qualities(key);
        self.negotiate(key);
        Ok(Joined {
            key,
            room: room_info,
            participant: info,
            participants: existing,
            resume_token: token,
            resumed: false,
        })
    }

    /// A new signaling connection takes over a participant whose old one dropped (or is about
    /// to be replaced): same peer connections, tracks and subscriptions; nobody else notices.
    pub(super) fn resume(
        &mut self,
        request: &JoinRequest,
        token: &str,
        signal_tx: mpsc::Sender<RtcServerMessage>,
    ) -> SfuResult<Joined> {
        let gone = || {
            not_found("nothing to resume: the participant left or its window passed; join again without `resume`")
        };
        let (key, p) = self
            .participants
            .iter_mut()
            .find(|(_, p)| p.resume_token == token)
            .ok_or_else(gone)?;
        if p.identity != request.identity || *p.room != *request.room {
            return Err(gone());
        }
        let key = *key;
        // The old connection, if it is still open, is closed by dropping its sender.
        p.signal = signal_tx;
        p.detached_since = None;
        p.resume_token = resume_token();
        let pending_offer = p.pending_offer.clone();
        let (info, token, room_name) = (p.info(), p.resume_token.clone(), p.room.clone());
        tracing::info!(room = %room_name, participant = %info.sid, "participant resumed");
        let room = self.rooms.get(&room_name).ok_or_else(gone)?;
        let participants = room
            .members
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.participants.get(k))
            .filter(|o| !o.grants.hidden)
            .map(Participant::info)
            .collect();
        let joined = Joined {
            key,
            room: room_info(room, &self.participants),
            participant: info,
            participants,
            resume_token: token,
            resumed: true,
        };
        // An offer the old connection never answered is made again on the new one, and the
        // layers its simulcast tracks should send are said again (a change may have been lost).
        self.tell_qualities(key);
        if let Some(p) = self.participants.get(&key) {
            if let Some(offer) = pending_offer {
                signal(key, p, offer, &mut self.doomed);
            }
            for track in p.tracks.iter().filter(|t| !t.layers.is_empty()) {
                signal(key, p, subscribed_qualities(track), &mut self.doomed);
            }
        }
        Ok(joined)
    }

    /// Send a message to every member of a room except one.
    pub(super) fn broadcast(
        &mut self,
        room: &str,
        except: Option<ParticipantKey>,
        msg: RtcServerMessage,
    ) {
        let Engine {
            rooms,
            participants,
            doomed,
            ..
        } = self;
        let Some(room) = rooms.get(room) else {
            return;
        };
        for member in &room.members {
            if Some(*member) == except {
                continue;
            }
            if let Some(p) = participants.get(member) {
                signal(*member, p, msg.clone(), doomed);
            }
        }
    }

    pub(super) fn update_grants(
        &mut self,
        key: ParticipantKey,
        update: GrantsUpdate,
    ) -> SfuResult<ParticipantInfo> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        update.apply(&mut p.grants);
        let not_allowed: Vec<String> = p
            .tracks
            .iter()
            .filter(|t| !p.grants.may_publish(t.info.source))
            .map(|t| t.info.sid.clone())
            .collect();
        let stop_subscriptions = !p.grants.can_subscribe;
        if stop_subscriptions {
            for d in &mut p.down {
                if let DownState::Open(m) | DownState::Negotiating(m) = d.state {
                    d.state = DownState::ToStop(m);
                }
            }
            p.down.retain(|d| d.state != DownState::ToOpen);
        }
        for sid in not_allowed {
            self.unpublish(key, &sid)?;
        }
        if stop_subscriptions {
            self.negotiate(key);
        }
        let info = self.participants.get(&key).ok_or_else(not_in_room)?.info();
        // Only the participant itself learns of a hidden participant.
        self.announce_update(key);
        Ok(info)
    }

    /// Take a participant out of its room, telling it why (unless it left by itself) and
    /// telling the others it is gone.
    pub(super) fn remove(&mut self, key: ParticipantKey, departure: Departure) {
        let Some(mut p) = self.participants.remove(&key) else {
            return;
        };
        if let Departure::Removed(reason) = departure {
            let message = match reason {
                RemovedReason::RemovedByAdmin => "a room admin removed you from the meeting",
                RemovedReason::RoomEnded => "the meeting was ended",
                RemovedReason::DuplicateIdentity => "you joined this meeting again elsewhere",
                RemovedReason::ConnectionLost => "the media connection was lost",
                RemovedReason::ServerShutdown => "the server is shutting down",
                RemovedReason::SlowConsumer => "signaling messages were not read in time",
                RemovedReason::TokenRevoked => "the API key that signed your token was revoked",
                RemovedReason::InternalError => {
                    "the server failed handling your connection; join again"
                }
            };
            let _ = p.signal.try_send(RtcServerMessage::Removed {
                reason,
                message: message.into(),
            });
        }
        tracing::info!(room = %p.room, participant = %p.sid, ?departure, "participant left");
        p.publisher.rtc.disconnect();
        p.subscriber.rtc.disconnect();
        self.metrics.participants.dec();
        self.placement.left(self.io.worker);
        for t in &p.tracks {
            self.metrics
                .tracks
                .with_label_values(&[t.info.kind.as_str(), t.info.source.as_str()])
                .dec();
        }
        self.forget_connections(key);
        self.dirty.retain(|(k, _)| *k != key);
        let room_name = p.room.clone();
        if let Some(room) = self.rooms.get_mut(&room_name) {
            room.members.retain(|k| *k != key);
            room.speakers.forget(&p.sid);
            for slot in room.bridge.iter_mut().flatten() {
                if slot.is_some_and(|(k, _)| k == key) {
                    *slot = None;
                }
            }
            if room.members.is_empty() {
                room.empty_since = Some(Instant::now());
            }
        }
        self.stop_down_tracks(&room_name, key, None);
        let info = p.info();
        if !p.grants.hidden {
            self.broadcast(
                &room_name,
                None,
                RtcServerMessage::ParticipantLeft {
                    participant: info.sid.clone(),
                    identity: info.identity.clone(),
                },
            );
        }
        if let Some(room) = self.rooms.get(&room_name) {
            for t in &p.tracks {
                self.emit(
                    "track_unpublished",
                    room,
                    Some(info.clone()),
                    Some(t.info.clone()),
                );
            }
            if !p.grants.hidden {
                self.emit("participant_left", room, Some(info), None);
            }
        }
    }
}

/// A name reserved for a channel's room, asked for as something else.
fn reserved_name(name: &str, reserved: ChannelRoom) -> SfuError {
    let how = match reserved {
        ChannelRoom::Meeting(c) => format!("POST /v1/channels/{}/meeting", c.0),
        ChannelRoom::Bridge(c) => format!("POST /v1/channels/{}/bridge", c.0),
    };
    SfuError::new(
        ErrorCode::RoomNameReserved,
        format!(
            "room names like `{name}` are reserved for channels' meetings and bridges: only {how} opens {}",
            reserved.describe()
        ),
    )
}
