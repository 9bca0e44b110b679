//! The protocol's messages and the roster they change: `join` (a new peer, or a resume),
//! `signal` (relayed, or held for a peer in grace), `leave`, and the end of grace periods.

use super::{error, held, session, ConnId, Effect, Entropy, Millis, Peer, Room};
use crate::ids::PeerId;
use crate::protocol::{CloseReason, ErrorCode, LogEvent, PeerInfo, ServerMessage};
use crate::room::PeerRecord;
use serde_json::value::RawValue;

impl Room {
    pub(super) fn join(
        &mut self,
        conn: ConnId,
        name: String,
        resume: Option<&str>,
        now: Millis,
        rng: &mut dyn Entropy,
        fx: &mut Vec<Effect>,
    ) {
        if self.peer_of(conn).is_some() {
            fx.push(error(
                conn,
                ErrorCode::BadMessage,
                "this socket has already joined",
            ));
            return;
        }
        // Alarms can fire late: a peer whose grace is over must neither resume nor hold a
        // place, whether or not the alarm has run yet.
        self.expire_graces(now, fx);
        if let Some(token) = resume {
            match self.verify_token(token) {
                Some(id) => return self.resume(conn, id, now, rng, fx),
                None => fx.push(error(
                    conn,
                    ErrorCode::ResumeFailed,
                    "resume token is invalid or expired; joining as a new peer",
                )),
            }
        }
        if self.peers.len() >= self.cfg.max_peers && !self.free_a_reserved_place(now, fx) {
            fx.push(error(conn, ErrorCode::RoomFull, "this room is full"));
            return self.close(conn, CloseReason::RoomFull, now, fx);
        }
        let id = loop {
            let mut b = [0u8; 8];
            rng.fill(&mut b);
            let id = PeerId::from_random(b);
            if !self.peers.contains_key(&id) {
                break id;
            }
        };
        let token = session::mint(&id, rng);
        let rec = PeerRecord {
            id: id.clone(),
            name,
            token_hash: session::hash(&token),
            grace_until: None,
            next_seq: 0,
        };
        self.peers.insert(
            id.clone(),
            Peer {
                rec,
                conn: Some(conn),
                held: held::Held::default(),
            },
        );
        self.bind(conn, id.clone(), fx);
        fx.push(Effect::SaveRoster);
        fx.push(Effect::Send {
            conn,
            text: self.welcome(&id, &token),
        });
        let peer = &self.peers[&id];
        let joined = ServerMessage::PeerJoined {
            id: &id,
            name: &peer.rec.name,
        }
        .to_text();
        for (other_id, other) in &self.peers {
            if *other_id != id {
                if let Some(c) = other.conn {
                    fx.push(Effect::Send {
                        conn: c,
                        text: joined.clone(),
                    });
                }
            }
        }
        fx.push(self.log(LogEvent::Join));
    }

    fn resume(
        &mut self,
        conn: ConnId,
        id: PeerId,
        now: Millis,
        rng: &mut dyn Entropy,
        fx: &mut Vec<Effect>,
    ) {
        let token = session::mint(&id, rng);
        let old_conn = {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            peer.rec.token_hash = session::hash(&token);
            peer.rec.grace_until = None;
            peer.conn.replace(conn)
        };
        if let Some(old) = old_conn {
            // The client reconnected before the old socket was noticed as dead (a network
            // change leaves it half-open). The newest socket wins; the peer is already bound
            // to it, so closing the old one starts no grace.
            self.close(old, CloseReason::Replaced, now, fx);
        }
        self.bind(conn, id.clone(), fx);
        fx.push(Effect::SaveRoster);
        fx.push(Effect::Send {
            conn,
            text: self.welcome(&id, &token),
        });
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.held.is_empty() {
            let mut keys = Vec::new();
            for (key, text) in peer.held.drain() {
                fx.push(Effect::Send { conn, text });
                keys.push(key);
            }
            fx.push(Effect::DeleteHeld { keys });
        }
        fx.push(self.log(LogEvent::Resume));
    }

    fn welcome(&self, id: &PeerId, token: &str) -> String {
        let peers = self
            .peers
            .values()
            .filter(|p| p.rec.id != *id)
            .map(|p| PeerInfo {
                id: &p.rec.id,
                name: &p.rec.name,
            })
            .collect();
        ServerMessage::Welcome {
            id,
            peers,
            max_peers: self.cfg.max_peers,
            resume_token: token,
        }
        .to_text()
    }

    /// Finds the peer a token belongs to. The secret part is compared in constant time.
    fn verify_token(&self, token: &str) -> Option<PeerId> {
        let id = session::claimed_peer(token)?;
        let peer = self.peers.get(&id)?;
        session::proves(token, &peer.rec.token_hash).then_some(id)
    }

    pub(super) fn signal(
        &mut self,
        conn: ConnId,
        to: &PeerId,
        data: &RawValue,
        fx: &mut Vec<Effect>,
    ) {
        let Some(from) = self.peer_of(conn).cloned() else {
            fx.push(error(conn, ErrorCode::NotJoined, "send join first"));
            return;
        };
        if from == *to {
            fx.push(error(conn, ErrorCode::BadMessage, "cannot signal yourself"));
            return;
        }
        let text = ServerMessage::Signal { from: &from, data }.to_text();
        let Some(target) = self.peers.get_mut(to) else {
            fx.push(error(
                conn,
                ErrorCode::UnknownPeer,
                "no such peer in this room",
            ));
            return;
        };
        match target.conn {
            Some(c) => fx.push(Effect::Send { conn: c, text }),
            None => {
                if !target.held.fits(text.len(), &self.cfg) {
                    fx.push(error(
                        conn,
                        ErrorCode::PeerUnavailable,
                        "peer is reconnecting and its queue is full",
                    ));
                    return;
                }
                let key = held::key(to, target.rec.next_seq);
                target.rec.next_seq += 1;
                target.held.push(key.clone(), text.clone());
                fx.push(Effect::PutHeld { key, text });
                fx.push(Effect::SaveRoster);
            }
        }
    }

    pub(super) fn leave(&mut self, conn: ConnId, fx: &mut Vec<Effect>) {
        let Some(id) = self.peer_of(conn).cloned() else {
            fx.push(error(conn, ErrorCode::NotJoined, "send join first"));
            return;
        };
        // Not `close`: the peer goes at once rather than into grace, and its socket, closed
        // normally, needs no disowning (a restore closes it 1011 if it is still listed).
        self.send_close(conn, CloseReason::Left, fx);
        self.conns.remove(&conn);
        self.remove_peer(&id, LogEvent::Leave, fx);
    }

    fn remove_peer(&mut self, id: &PeerId, event: LogEvent, fx: &mut Vec<Effect>) {
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        if let Some(c) = peer.conn {
            self.conns.remove(&c);
        }
        let left = ServerMessage::PeerLeft { id }.to_text();
        for other in self.peers.values() {
            if let Some(c) = other.conn {
                fx.push(Effect::Send {
                    conn: c,
                    text: left.clone(),
                });
            }
        }
        fx.push(self.log(event));
        if self.peers.is_empty() {
            self.clear(fx);
        } else {
            if !peer.held.is_empty() {
                fx.push(Effect::DeleteHeld {
                    keys: peer.held.into_keys(),
                });
            }
            fx.push(Effect::SaveRoster);
        }
    }

    /// A full room and a newcomer: a peer that has been away (in grace) for longer than
    /// `grace_reserve_ms` gives up its place, the longest-away first, so that absent peers
    /// cannot keep a room full for the whole grace period (a squatter reconnecting and dropping
    /// again holds a place at most that long). Whether a place was freed.
    fn free_a_reserved_place(&mut self, now: Millis, fx: &mut Vec<Effect>) -> bool {
        let since = |until: Millis| until.saturating_sub(self.cfg.grace_ms);
        let away = self
            .peers
            .values()
            .filter(|p| p.conn.is_none())
            .filter_map(|p| Some((since(p.rec.grace_until?), p.rec.id.clone())))
            .filter(|(left_at, _)| now >= left_at + self.cfg.grace_reserve_ms)
            .min();
        let Some((_, id)) = away else {
            return false;
        };
        self.remove_peer(&id, LogEvent::GraceExpired, fx);
        true
    }

    /// Ends every grace period that is over: `peerLeft` to the others, records deleted.
    pub(super) fn expire_graces(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let expired: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.conn.is_none() && p.rec.grace_until.is_some_and(|t| now >= t))
            .map(|p| p.rec.id.clone())
            .collect();
        for id in expired {
            self.remove_peer(&id, LogEvent::GraceExpired, fx);
        }
    }

    fn bind(&mut self, conn: ConnId, peer: PeerId, fx: &mut Vec<Effect>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.attachment.peer = Some(peer);
            fx.push(Effect::Attach {
                conn,
                attachment: c.attachment.clone(),
            });
        }
    }
}
