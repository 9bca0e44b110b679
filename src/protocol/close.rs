//! WebSocket close codes the server sends, each paired once with its reason string. The same
//! table is mirrored in `public/js/close-codes.js` and docs/PROTOCOL.md, and
//! `tests/vocabulary.rs` keeps both equal to [`CloseReason::ALL`].

/// Declares [`CloseReason`] from one list: each variant's `///` text is both its rustdoc and
/// what [`CloseReason::meaning`] returns, so the documented table cannot drift from the code.
macro_rules! close_reasons {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal, $reason:literal;)+) => {
        /// Why the server closes a socket: a close code and the reason string sent with it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum CloseReason {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl CloseReason {
            /// Every reason, in the order the documentation lists them.
            pub const ALL: &'static [CloseReason] = &[$(CloseReason::$variant),+];

            /// The close code on the wire.
            pub const fn code(self) -> u16 {
                match self {
                    $(CloseReason::$variant => $code,)+
                }
            }

            /// The reason string sent with the code.
            pub const fn reason(self) -> &'static str {
                match self {
                    $(CloseReason::$variant => $reason,)+
                }
            }

            /// The variant's documentation: when the server sends it and what a client does.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(CloseReason::$variant => concat!($($doc, "\n"),+),)+
                }
            }
        }
    };
}

close_reasons! {
    /// Normal closure, after `leave`. Nothing to do.
    Left = 1000, "left";
    /// The socket sent no keep-alive or message for longer than the liveness timeout (60 s).
    /// Reconnect and resume.
    NoKeepAlive = 1001, "no keep-alive";
    /// Sustained flooding: 100 messages dropped by the rate limit in one flood. Back off.
    Flood = 1008, "message flood";
    /// A frame over 64 KiB. Fix the client.
    TooLarge = 1009, "frame too large";
    /// The room lost this session's record (should not happen). Reconnect and join.
    SessionLost = 1011, "session lost";
    /// The runtime handed the room a socket it never tagged (should not happen). Reconnect.
    UnknownSocket = 1011, "unknown socket";
    /// The runtime reported an error on the socket. Reconnect and resume.
    SocketError = 1011, "socket error";
    /// Another socket resumed this session; this older one is closed. Do not reconnect.
    Replaced = 4001, "replaced by a newer connection";
    /// `join` asked for a protocol version this server does not speak. Do not reconnect.
    UnsupportedVersion = 4002, "unsupported protocol version";
    /// The room already has `maxPeers` participants, counting peers in grace for their first
    /// 10 s. Do not reconnect; tell the user.
    RoomFull = 4003, "room full";
    /// No `join` within the join timeout (10 s). Reconnect.
    JoinTimeout = 4008, "join timeout";
}

/// The code the server answers a client's close frame with. 1005, 1006 and 1015 are reserved
/// for reporting and may not be sent, so they are answered 1000. A code no endpoint may send
/// at all (below 1000, 1004, 5000 and above) is a protocol error, 1002: the runtime refuses to
/// echo it, and without an answer the client would wait out its own close timeout with the
/// TCP connection held open. Any other code is echoed.
pub fn reply_code(client_code: usize) -> u16 {
    match client_code {
        1005 | 1006 | 1015 => 1000,
        1004 => 1002,
        // In range, so the cast cannot truncate.
        c @ 1000..=4999 => c as u16,
        _ => 1002,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_are_the_wire_values() {
        let table: Vec<(u16, &str)> = CloseReason::ALL
            .iter()
            .map(|r| (r.code(), r.reason()))
            .collect();
        assert_eq!(
            table,
            [
                (1000, "left"),
                (1001, "no keep-alive"),
                (1008, "message flood"),
                (1009, "frame too large"),
                (1011, "session lost"),
                (1011, "unknown socket"),
                (1011, "socket error"),
                (4001, "replaced by a newer connection"),
                (4002, "unsupported protocol version"),
                (4003, "room full"),
                (4008, "join timeout"),
            ]
        );
        // A WebSocket close reason is at most 123 bytes.
        assert!(CloseReason::ALL.iter().all(|r| r.reason().len() <= 123));
    }

    #[test]
    fn meaning_is_the_doc_text() {
        assert!(CloseReason::RoomFull
            .meaning()
            .starts_with(" The room already has `maxPeers` participants"));
        assert!(CloseReason::ALL
            .iter()
            .all(|r| !r.meaning().trim().is_empty()));
    }

    #[test]
    fn a_client_close_is_answered_with_a_code_that_may_be_sent() {
        for (client, reply) in [
            (1000, 1000),
            (1001, 1001),
            (1002, 1002),
            (1003, 1003),
            (1004, 1002),
            (1005, 1000),
            (1006, 1000),
            (1007, 1007),
            (1011, 1011),
            (1015, 1000),
            (3000, 3000),
            (4001, 4001),
            (4999, 4999),
            (0, 1002),
            (999, 1002),
            (5000, 1002),
            (65_535, 1002),
            (usize::MAX, 1002),
        ] {
            assert_eq!(reply_code(client), reply, "{client}");
        }
    }
}
