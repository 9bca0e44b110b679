//! The names of the metadata-only log lines the Worker writes. Tests and benchmarks read them
//! (`{"event":"join",…}`), so they are a contract like the wire protocol; docs/PROTOCOL.md lists
//! them from [`LogEvent::ALL`] (`tests/vocabulary.rs` keeps the two equal).

/// Declares [`LogEvent`] from one list: each variant's `///` text is both its rustdoc and what
/// [`LogEvent::meaning`] returns.
macro_rules! log_events {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal;)+) => {
        /// An event the Worker logs, one JSON line each.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum LogEvent {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl LogEvent {
            /// Every event, in the order the documentation lists them.
            pub const ALL: &'static [LogEvent] = &[$(LogEvent::$variant),+];

            /// The `event` field of the line.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(LogEvent::$variant => $name,)+
                }
            }

            /// The variant's documentation: when the line is written and what it carries.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(LogEvent::$variant => concat!($($doc, "\n"),+),)+
                }
            }
        }
    };
}

log_events! {
    /// The room's object woke and rebuilt the room from storage and its open sockets
    /// (`peers`, `sockets`).
    RoomLoaded = "room_loaded";
    /// The last peer is gone: every stored key and the alarm were deleted.
    RoomCleared = "room_cleared";
    /// A new peer joined (`peers` after it).
    Join = "join";
    /// A peer resumed its session (`peers`).
    Resume = "resume";
    /// A peer sent `leave` (`peers` after it).
    Leave = "leave";
    /// A joined socket went away without `leave`; its peer keeps its place for the grace
    /// period (`peers`).
    GraceStart = "grace_start";
    /// A peer's grace period ended, or a newcomer took its place in a full room after the
    /// first 10 s, and it was removed (`peers` after it).
    GraceExpired = "grace_expired";
    /// A joined socket was closed for silence, 1001 (`peers`).
    IdleClosed = "idle_closed";
    /// A socket was closed for flooding, 1008 (`peers`).
    FloodClosed = "flood_closed";
    /// A join was refused because the room is full, 4003 (`peers`).
    RoomFull = "room_full";
    /// An upgrade was refused with HTTP 503 because 2 × `maxPeers` sockets were already open
    /// without having joined (`peers`).
    RoomBusy = "room_busy";
    /// The room closed a socket (`code`); not written for the 1000 that follows a `leave`,
    /// which has its own line.
    Close = "close";
    /// A socket the room still held was closed by the client or the network (`code`: the
    /// code the server answered with). A close that answers one of the room's own is not news.
    SocketClosed = "socket_closed";
    /// The runtime reported an error on a socket the room still held (`code`: 1011).
    SocketError = "socket_error";
    /// The runtime refused a socket's new attachment (the socket had already closed).
    AttachFailed = "attach_failed";
    /// An upgrade was refused by the per-IP connection limit (no room field).
    ConnectLimited = "connect_limited";
    /// `/api/ice-servers` was asked for with no TURN relay configured; once per isolate (no
    /// room field).
    TurnUnconfigured = "turn_unconfigured";
}

impl LogEvent {
    /// The log line: `{"event":"<name>"` then `fields` (`,"key":value` pairs, already JSON).
    pub fn line(self, fields: &str) -> String {
        format!("{{\"event\":\"{}\"{fields}}}", self.as_str())
    }
}

/// The fields a room's log line carries after its event name and room tag. Never a payload, a
/// name or a room code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    None,
    /// The room's peer count (including peers in grace).
    Peers(usize),
    /// A close code.
    Code(u16),
    /// What a wake found.
    Loaded {
        peers: usize,
        sockets: usize,
    },
}

impl Detail {
    /// The fields as JSON, each preceded by a comma.
    pub fn fields(self) -> String {
        match self {
            Detail::None => String::new(),
            Detail::Peers(n) => format!(",\"peers\":{n}"),
            Detail::Code(c) => format!(",\"code\":{c}"),
            Detail::Loaded { peers, sockets } => {
                format!(",\"peers\":{peers},\"sockets\":{sockets}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_tests_and_benches_read() {
        let names: Vec<&str> = LogEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "room_loaded",
                "room_cleared",
                "join",
                "resume",
                "leave",
                "grace_start",
                "grace_expired",
                "idle_closed",
                "flood_closed",
                "room_full",
                "room_busy",
                "close",
                "socket_closed",
                "socket_error",
                "attach_failed",
                "connect_limited",
                "turn_unconfigured",
            ]
        );
    }

    // Golden lines: tests/integration and bench/ match on these prefixes and parse the rest.
    #[test]
    fn golden_lines() {
        assert_eq!(
            LogEvent::ConnectLimited.line(""),
            r#"{"event":"connect_limited"}"#
        );
        let room = ",\"room\":\"0a1b2c3d\"";
        let cases = [
            (
                LogEvent::Join,
                Detail::Peers(2),
                r#"{"event":"join","room":"0a1b2c3d","peers":2}"#,
            ),
            (
                LogEvent::Close,
                Detail::Code(4003),
                r#"{"event":"close","room":"0a1b2c3d","code":4003}"#,
            ),
            (
                LogEvent::RoomCleared,
                Detail::None,
                r#"{"event":"room_cleared","room":"0a1b2c3d"}"#,
            ),
            (
                LogEvent::RoomLoaded,
                Detail::Loaded {
                    peers: 1,
                    sockets: 3,
                },
                r#"{"event":"room_loaded","room":"0a1b2c3d","peers":1,"sockets":3}"#,
            ),
        ];
        for (event, detail, line) in cases {
            assert_eq!(event.line(&format!("{room}{}", detail.fields())), line);
        }
    }
}
