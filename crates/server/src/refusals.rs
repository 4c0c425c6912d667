//! Requests refused before an operation, every one accounted for at a bounded cost in the audit
//! log: in each interval the first refusal of each error code from a source address is recorded
//! as it happens (a full audit record, as before); the others are counted, and when the
//! interval closes (or the server shuts down) each source some of whose refusals were only
//! counted gets one summary record: how many, first and last time, the error codes with their
//! counts, and up to [`MAX_KEY_IDS`] access key ids they claimed.
//!
//! Memory is bounded: at most `max_sources` addresses are tracked per interval; refusals from
//! further addresses are tallied together in one overflow summary (without an address).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use coffer_core::time::rfc3339;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Distinct access key ids a summary names; beyond them it says the list is truncated.
pub(crate) const MAX_KEY_IDS: usize = 8;

/// Source addresses tracked per interval by default.
pub(crate) const MAX_SOURCES: usize = 4096;

/// The `eventName` of a summary record.
pub(crate) const SUMMARY_EVENT: &str = "RefusedRequestsSummary";

/// One refused request, as the accounting sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal<'a> {
    /// The source address.
    pub(crate) ip: IpAddr,
    /// The AWS error code the client got.
    pub(crate) code: &'static str,
    /// The access key id the request claimed, if any (already checked to be a plausible id).
    pub(crate) access_key_id: Option<&'a str>,
}

/// What to do with a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The first of its code from its source this interval: write a full record now.
    Record,
    /// Counted; it will be in the source's summary when the interval closes.
    Counted,
}

/// The refusals of one source (or of the overflow) in one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tally {
    first: SystemTime,
    last: SystemTime,
    total: u64,
    recorded: u64,
    codes: BTreeMap<&'static str, u64>,
    key_ids: BTreeSet<Box<str>>,
    key_ids_truncated: bool,
}

impl Tally {
    fn new(now: SystemTime) -> Self {
        Self {
            first: now,
            last: now,
            total: 0,
            recorded: 0,
            codes: BTreeMap::new(),
            key_ids: BTreeSet::new(),
            key_ids_truncated: false,
        }
    }

    fn add(&mut self, r: &Refusal<'_>, now: SystemTime) -> Disposition {
        self.first = self.first.min(now);
        self.last = self.last.max(now);
        self.total = self.total.saturating_add(1);
        let count = self.codes.entry(r.code).or_insert(0);
        *count = count.saturating_add(1);
        if let Some(id) = r.access_key_id {
            if !self.key_ids.contains(id) {
                if self.key_ids.len() < MAX_KEY_IDS {
                    self.key_ids.insert(id.into());
                } else {
                    self.key_ids_truncated = true;
                }
            }
        }
        if *count == 1 {
            self.recorded = self.recorded.saturating_add(1);
            Disposition::Record
        } else {
            Disposition::Counted
        }
    }
}

/// What one summary record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The source; `None` for the overflow (sources beyond the tracked ones).
    pub(crate) source: Option<IpAddr>,
    tally: Tally,
    interval: Duration,
}

impl Summary {
    /// Requests refused from the source in the interval, recorded one by one or not.
    pub(crate) fn total(&self) -> u64 {
        self.tally.total
    }

    /// The most frequent error code (the first by name among equals): the record's `errorCode`.
    pub(crate) fn error_code(&self) -> &'static str {
        let mut best = ("", 0);
        for (&code, &n) in &self.tally.codes {
            if n > best.1 {
                best = (code, n);
            }
        }
        best.0
    }

    /// The record's `errorMessage`, for people.
    pub(crate) fn message(&self) -> String {
        format!(
            "{} requests were refused before an operation between {} and {}; {} of them were \
             recorded one by one, the others are counted here.",
            self.tally.total,
            rfc3339(self.tally.first),
            rfc3339(self.tally.last),
            self.tally.recorded
        )
    }

    /// The record's `requestParameters`: the counts (ids and codes only, never a secret).
    pub(crate) fn details(&self) -> Value {
        json!({
            "refusedRequests": self.tally.total,
            "recordedIndividually": self.tally.recorded,
            "firstRefusalTime": rfc3339(self.tally.first),
            "lastRefusalTime": rfc3339(self.tally.last),
            "errorCodes": self.tally.codes,
            "accessKeyIds": self.tally.key_ids,
            "accessKeyIdsTruncated": self.tally.key_ids_truncated,
            "untrackedSources": self.source.is_none(),
            "intervalSeconds": self.interval.as_secs(),
        })
    }
}

#[derive(Debug, Default)]
struct Window {
    sources: HashMap<IpAddr, Tally>,
    overflow: Option<Tally>,
}

/// The refusal accounting of a server.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    interval: Duration,
    max_sources: usize,
    window: Mutex<Window>,
}

impl RefusalLog {
    /// Summaries every `interval`, tracking at most `max_sources` addresses per interval.
    pub(crate) fn new(interval: Duration, max_sources: usize) -> Self {
        Self {
            interval,
            max_sources: max_sources.max(1),
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts a refusal at `now`; whether to record it in full now.
    pub(crate) fn note(&self, r: &Refusal<'_>, now: SystemTime) -> Disposition {
        let mut w = self.window.lock();
        let w = &mut *w;
        let tally = if w.sources.contains_key(&r.ip) || w.sources.len() < self.max_sources {
            w.sources.entry(r.ip).or_insert_with(|| Tally::new(now))
        } else {
            w.overflow.get_or_insert_with(|| Tally::new(now))
        };
        tally.add(r, now)
    }

    /// Closes the interval: the summaries of the sources some of whose refusals were only
    /// counted (a source whose every refusal was recorded needs none), sources first by
    /// address, the overflow last. The next interval starts empty.
    pub(crate) fn close_interval(&self) -> Vec<Summary> {
        let window = std::mem::take(&mut *self.window.lock());
        let interval = self.interval;
        let mut out: Vec<Summary> = window
            .sources
            .into_iter()
            .map(|(ip, tally)| Summary {
                source: Some(ip),
                tally,
                interval,
            })
            .chain(window.overflow.map(|tally| Summary {
                source: None,
                tally,
                interval,
            }))
            .filter(|s| s.tally.total > s.tally.recorded)
            .collect();
        out.sort_by_key(|s| (s.source.is_none(), s.source));
        out
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.window.lock().sources.len()
    }
}

/// Closes an interval of `log` every `log.interval()` (the first one interval from now) and
/// hands its summaries, if any, to `write`; when `stop` fires (or its sender is dropped), hands
/// over those of the current interval and returns. On tokio's clock, so tests run it in paused
/// time.
pub(crate) async fn run_intervals<F, Fut>(
    log: &RefusalLog,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    mut write: F,
) where
    F: FnMut(Vec<Summary>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let every = log.interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = &mut stop => true,
        };
        let summaries = log.close_interval();
        if !summaries.is_empty() {
            write(summaries).await;
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn intervals_close_on_the_tick_and_at_stop() {
        let log = Arc::new(RefusalLog::new(Duration::from_secs(60), 10));
        let written = Arc::new(Mutex::new(Vec::<u64>::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = {
            let (log, written) = (log.clone(), written.clone());
            tokio::spawn(async move {
                run_intervals(&log, stopped, |summaries| {
                    written
                        .lock()
                        .push(summaries.iter().map(Summary::total).sum());
                    std::future::ready(())
                })
                .await;
            })
        };
        let bad = refusal("127.0.0.2", "InvalidSignatureException", None);
        for _ in 0..5 {
            log.note(&bad, SystemTime::now());
        }
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(
            written.lock().is_empty(),
            "closed before its interval ended"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::yield_now().await;
        assert_eq!(*written.lock(), [5]);
        // An interval with nothing only counted writes nothing.
        log.note(&bad, SystemTime::now());
        tokio::time::sleep(Duration::from_secs(60)).await;
        tokio::task::yield_now().await;
        assert_eq!(*written.lock(), [5]);
        // At stop, the unfinished interval is written at once.
        for _ in 0..3 {
            log.note(&bad, SystemTime::now());
        }
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(*written.lock(), [5, 3]);
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn refusal(ip: &str, code: &'static str, key: Option<&'static str>) -> Refusal<'static> {
        Refusal {
            ip: ip.parse().unwrap(),
            code,
            access_key_id: key,
        }
    }

    #[test]
    fn first_of_each_code_per_source_is_recorded_the_rest_counted() {
        let log = RefusalLog::new(Duration::from_secs(60), 10);
        let bad = refusal("127.0.0.2", "InvalidSignatureException", Some("AKIAOWNER"));
        assert_eq!(log.note(&bad, at(0)), Disposition::Record);
        for i in 1..100 {
            assert_eq!(log.note(&bad, at(i % 7)), Disposition::Counted);
        }
        let missing = refusal("127.0.0.2", "MissingAuthenticationTokenException", None);
        assert_eq!(log.note(&missing, at(9)), Disposition::Record);
        // Another source has its own firsts.
        let other = refusal("127.0.0.3", "InvalidSignatureException", None);
        assert_eq!(log.note(&other, at(3)), Disposition::Record);

        let summaries = log.close_interval();
        // 127.0.0.3 had nothing beyond what was recorded: no summary.
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert_eq!(s.source, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(s.total(), 101);
        assert_eq!(s.error_code(), "InvalidSignatureException");
        let d = s.details();
        assert_eq!(d["refusedRequests"], 101);
        assert_eq!(d["recordedIndividually"], 2);
        assert_eq!(d["errorCodes"]["InvalidSignatureException"], 100);
        assert_eq!(d["errorCodes"]["MissingAuthenticationTokenException"], 1);
        assert_eq!(d["accessKeyIds"], json!(["AKIAOWNER"]));
        assert_eq!(d["accessKeyIdsTruncated"], false);
        assert_eq!(d["firstRefusalTime"], "2023-11-14T22:13:20Z");
        assert_eq!(d["lastRefusalTime"], "2023-11-14T22:13:29Z");
        assert_eq!(d["intervalSeconds"], 60);
        assert!(s.message().starts_with("101 requests were refused"));

        // The next interval starts over: its first refusal is recorded again.
        assert_eq!(log.tracked(), 0);
        assert_eq!(log.note(&bad, at(61)), Disposition::Record);
        assert!(log.close_interval().is_empty());
    }

    #[test]
    fn key_ids_are_capped() {
        let log = RefusalLog::new(Duration::from_secs(60), 10);
        let ids: Vec<String> = (0..MAX_KEY_IDS + 5)
            .map(|i| format!("AKIA{i:016}"))
            .collect();
        for id in &ids {
            let r = Refusal {
                ip: "127.0.0.2".parse().unwrap(),
                code: "UnrecognizedClientException",
                access_key_id: Some(id),
            };
            log.note(&r, at(1));
        }
        let d = log.close_interval()[0].details();
        assert_eq!(d["accessKeyIds"].as_array().unwrap().len(), MAX_KEY_IDS);
        assert_eq!(d["accessKeyIdsTruncated"], true);
        assert_eq!(d["refusedRequests"], (MAX_KEY_IDS + 5) as u64);
    }

    #[test]
    fn sources_beyond_the_cap_share_one_overflow_summary() {
        let log = RefusalLog::new(Duration::from_secs(60), 3);
        let mut recorded = 0;
        for i in 0..50u8 {
            for _ in 0..2 {
                let ip = format!("10.0.0.{i}");
                let r = Refusal {
                    ip: ip.parse().unwrap(),
                    code: "InvalidSignatureException",
                    access_key_id: None,
                };
                if log.note(&r, at(u64::from(i))) == Disposition::Record {
                    recorded += 1;
                }
            }
        }
        assert_eq!(log.tracked(), 3);
        // Three tracked sources record their first; the overflow records its first once.
        assert_eq!(recorded, 4);
        let summaries = log.close_interval();
        assert_eq!(summaries.len(), 4);
        let overflow = summaries.last().unwrap();
        assert_eq!(overflow.source, None);
        assert_eq!(overflow.total(), 94);
        assert_eq!(overflow.details()["untrackedSources"], true);
        // Every refusal is accounted for.
        assert_eq!(summaries.iter().map(Summary::total).sum::<u64>(), 100);
    }
}
