//! The per-socket rate limit: a token bucket, and the strike count that turns a sustained
//! flood into a close.

use super::{Millis, RoomConfig};

/// What the bucket makes of one inbound frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Within the rate: handle the frame.
    Pass,
    /// Over the rate: drop the frame and tell the sender.
    Drop,
    /// Over the rate for `flood_strikes` frames in one flood: close the socket.
    Flood,
}

/// Refills at `rate_per_sec` up to `rate_burst`; every frame takes one token.
pub(super) struct Bucket {
    tokens: f64,
    refilled_at: Millis,
    strikes: u32,
}

impl Bucket {
    /// A full bucket, as every socket starts (and restarts after an eviction).
    pub(super) fn full(cfg: &RoomConfig, now: Millis) -> Bucket {
        Bucket {
            tokens: f64::from(cfg.rate_burst),
            refilled_at: now,
            strikes: 0,
        }
    }

    /// Refills by the time elapsed, then takes one token for a frame arriving at `now`.
    pub(super) fn take(&mut self, cfg: &RoomConfig, now: Millis) -> Verdict {
        let elapsed = now.saturating_sub(self.refilled_at) as f64 / 1000.0;
        self.tokens =
            (self.tokens + elapsed * f64::from(cfg.rate_per_sec)).min(f64::from(cfg.rate_burst));
        self.refilled_at = now;
        if self.tokens < 1.0 {
            self.strikes += 1;
            return if self.strikes >= cfg.flood_strikes {
                Verdict::Flood
            } else {
                Verdict::Drop
            };
        }
        self.tokens -= 1.0;
        if self.tokens >= f64::from(cfg.rate_burst) - 1.0 {
            // The bucket was full again: the earlier burst is forgiven.
            self.strikes = 0;
        }
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_000_000;

    fn cfg(rate_per_sec: u32, rate_burst: u32, flood_strikes: u32) -> RoomConfig {
        RoomConfig {
            rate_per_sec,
            rate_burst,
            flood_strikes,
            ..RoomConfig::default()
        }
    }

    #[test]
    fn a_full_bucket_passes_its_burst_then_drops() {
        let cfg = cfg(20, 50, 100);
        let mut b = Bucket::full(&cfg, T0);
        for i in 0..50 {
            assert_eq!(b.take(&cfg, T0), Verdict::Pass, "frame {i}");
        }
        assert_eq!(b.take(&cfg, T0), Verdict::Drop);
    }

    #[test]
    fn it_refills_at_the_rate() {
        let cfg = cfg(20, 50, 100);
        let mut b = Bucket::full(&cfg, T0);
        while b.take(&cfg, T0) == Verdict::Pass {}
        // 50 ms at 20/s is one token.
        assert_eq!(b.take(&cfg, T0 + 49), Verdict::Drop);
        assert_eq!(b.take(&cfg, T0 + 50), Verdict::Pass);
        assert_eq!(b.take(&cfg, T0 + 50), Verdict::Drop);
        // Never more than the burst, however long it rested.
        let later = T0 + 3_600_000;
        for _ in 0..50 {
            assert_eq!(b.take(&cfg, later), Verdict::Pass);
        }
        assert_eq!(b.take(&cfg, later), Verdict::Drop);
    }

    #[test]
    fn the_strike_limit_turns_drops_into_a_flood() {
        let cfg = cfg(1, 2, 3);
        let mut b = Bucket::full(&cfg, T0);
        let verdicts: Vec<Verdict> = (0..5).map(|_| b.take(&cfg, T0)).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Pass, Pass, Drop, Drop, Flood]);
    }

    #[test]
    fn a_refilled_bucket_forgives_strikes_and_a_clock_going_back_is_no_refill() {
        let cfg = cfg(1, 2, 3);
        let mut b = Bucket::full(&cfg, T0);
        b.take(&cfg, T0);
        b.take(&cfg, T0);
        assert_eq!(b.take(&cfg, T0), Verdict::Drop);
        assert_eq!(b.take(&cfg, T0), Verdict::Drop);
        // Two seconds refill both tokens; taking one from a full bucket clears the strikes.
        assert_eq!(b.take(&cfg, T0 + 2_000), Verdict::Pass);
        assert_eq!(b.take(&cfg, T0 + 2_000), Verdict::Pass);
        assert_eq!(b.take(&cfg, T0 + 2_000), Verdict::Drop);
        assert_eq!(b.take(&cfg, T0 + 2_000), Verdict::Drop);
        assert_eq!(b.take(&cfg, T0 + 1_000), Verdict::Flood);
    }
}
