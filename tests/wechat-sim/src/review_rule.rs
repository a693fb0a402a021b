//! Review outcomes for many mini programs at once (`POST /sim/reviews` without an appid): a
//! fraction rejected, a fraction delayed, the rest passed, for rollouts of one template to
//! hundreds of mini programs ("代码审核结果推送" (audit_event) for each).
//!
//! Deterministic, and exact for the mini programs that exist when the rule is set:
//! - The population is every mini program then known whose appid starts with `prefix` (all by
//!   default). They are ranked by a stable draw of their appid ([`draw`]); the first
//!   round(reject_fraction × n) have their first review under the rule rejected, the next
//!   round((reject_fraction + delay_fraction) × n) − rejected delayed, the others passed. The
//!   answer lists which ones, so a test knows them before submitting.
//! - Any other submission (a resubmission of the population, or a mini program outside it) is
//!   decided by the draw of appid and submission number against the fractions: stable from run to
//!   run, the fraction only on average.
//! - A mini program's scripts queued with an appid (`/sim/reviews {"appid", …}`) come first; a new
//!   rule replaces the old one; `DELETE /sim/reviews` drops it (each mini program's configured
//!   review again).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::config::{default_review_secs, ReviewScript};
use crate::state::SimState;

fn default_reject_reason() -> String {
    "小程序内容不符合规范 (scripted rejection)".to_owned()
}

fn default_delay_reason() -> String {
    "审核延后 (scripted delay)".to_owned()
}

/// The JSON of `POST /sim/reviews` without an appid.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FractionScript {
    /// The share of reviews rejected, 0 to 1.
    #[serde(default)]
    pub reject_fraction: f64,
    /// The share of reviews delayed (weapp_audit_delay), 0 to 1 − reject_fraction.
    #[serde(default)]
    pub delay_fraction: f64,
    /// When every review ends, in simulated seconds after its submission (default 5).
    #[serde(default = "default_review_secs")]
    pub after_secs: i64,
    /// The rejection reason (weapp_audit_fail's `Reason`).
    #[serde(default = "default_reject_reason")]
    pub reason: String,
    #[serde(default)]
    pub screenshot: String,
    /// The delay reason (weapp_audit_delay's `Reason`).
    #[serde(default = "default_delay_reason")]
    pub delay_reason: String,
    /// A delayed review passes this many simulated seconds after its delay; none: it stays
    /// delayed (status 4) until withdrawn.
    #[serde(default)]
    pub delay_then_pass_after_secs: Option<i64>,
    /// The population: the mini programs whose appid starts with this (default: all).
    #[serde(default)]
    pub prefix: String,
}

impl FractionScript {
    /// The first field out of range, named.
    pub fn check(&self) -> Result<(), String> {
        let fraction = |name: &str, f: f64| {
            (f.is_finite() && (0.0..=1.0).contains(&f))
                .then_some(())
                .ok_or(format!("{name} must be between 0 and 1"))
        };
        fraction("reject_fraction", self.reject_fraction)?;
        fraction("delay_fraction", self.delay_fraction)?;
        if self.reject_fraction + self.delay_fraction > 1.0 {
            return Err("reject_fraction + delay_fraction must be at most 1".into());
        }
        if self.after_secs < 0 {
            return Err("after_secs must be >= 0".into());
        }
        if self.delay_then_pass_after_secs.is_some_and(|s| s < 0) {
            return Err("delay_then_pass_after_secs must be >= 0".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Reject,
    Delay,
}

/// A fraction script in force, with the outcome it chose for each mini program of its population.
#[derive(Debug, Clone)]
pub struct ReviewRule {
    script: FractionScript,
    /// The outcome of the first review under the rule, for each appid of the population.
    first: HashMap<String, Outcome>,
    /// Reviews taken under the rule, per appid.
    submissions: HashMap<String, u64>,
}

/// A stable draw for `appid`'s submission `n` under a rule: the first 8 bytes of
/// SHA-1(`appid/n`), big-endian.
pub fn draw(appid: &str, n: u64) -> u64 {
    let digest = Sha1::digest(format!("{appid}/{n}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl ReviewRule {
    /// The rule of `script` over the mini programs `appids` known now (O(n log n), once).
    pub fn new<'a>(script: FractionScript, appids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ranked: Vec<(u64, &str)> = appids
            .into_iter()
            .filter(|appid| appid.starts_with(&script.prefix))
            .map(|appid| (draw(appid, 0), appid))
            .collect();
        ranked.sort_unstable();
        let n = ranked.len() as f64;
        let rejected = (script.reject_fraction * n).round() as usize;
        let not_passed = ((script.reject_fraction + script.delay_fraction) * n)
            .round()
            .min(n) as usize;
        let first = ranked
            .into_iter()
            .enumerate()
            .map(|(rank, (_, appid))| {
                let outcome = if rank < rejected {
                    Outcome::Reject
                } else if rank < not_passed {
                    Outcome::Delay
                } else {
                    Outcome::Pass
                };
                (appid.to_owned(), outcome)
            })
            .collect();
        Self {
            script,
            first,
            submissions: HashMap::new(),
        }
    }

    fn with(&self, outcome: Outcome) -> Vec<&str> {
        let mut appids: Vec<&str> = self
            .first
            .iter()
            .filter(|(_, o)| **o == outcome)
            .map(|(appid, _)| appid.as_str())
            .collect();
        appids.sort_unstable();
        appids
    }

    /// `/sim/reviews`' answer: the population and the appids whose first review is rejected or
    /// delayed.
    pub fn summary(&self) -> Value {
        json!({
            "population": self.first.len(),
            "rejected": self.with(Outcome::Reject),
            "delayed": self.with(Outcome::Delay),
            "after_secs": self.script.after_secs,
        })
    }

    pub fn after_secs(&self) -> i64 {
        self.script.after_secs
    }

    /// How `appid`'s next review ends under the rule; the submission is counted.
    fn take(&mut self, appid: &str) -> ReviewScript {
        let taken = self.submissions.entry(appid.to_owned()).or_default();
        let n = *taken;
        *taken += 1;
        let outcome = match self.first.get(appid) {
            Some(first) if n == 0 => *first,
            _ => self.drawn(draw(appid, n)),
        };
        let s = &self.script;
        match outcome {
            Outcome::Pass => ReviewScript::Pass {
                after_secs: s.after_secs,
            },
            Outcome::Reject => ReviewScript::Reject {
                after_secs: s.after_secs,
                reason: s.reason.clone(),
                screenshot: s.screenshot.clone(),
            },
            Outcome::Delay => ReviewScript::Delay {
                after_secs: s.after_secs,
                reason: s.delay_reason.clone(),
                then_pass_after_secs: s.delay_then_pass_after_secs,
            },
        }
    }

    fn drawn(&self, draw: u64) -> Outcome {
        let u = draw as f64 / 2f64.powi(64);
        if u < self.script.reject_fraction {
            Outcome::Reject
        } else if u < self.script.reject_fraction + self.script.delay_fraction {
            Outcome::Delay
        } else {
            Outcome::Pass
        }
    }
}

impl SimState {
    /// How `appid`'s next review ends, taken: its next script queued through `/sim/reviews`, else
    /// the fraction rule, else `configured` (the mini program's own).
    pub fn take_review_script(&mut self, appid: &str, configured: &ReviewScript) -> ReviewScript {
        if let Some(script) = self.code_state(appid).scripted_reviews.pop_front() {
            return script;
        }
        match &mut self.review_rule {
            Some(rule) => rule.take(appid),
            None => configured.clone(),
        }
    }

    /// When `appid`'s next review would end, after its submission; nothing is taken.
    pub fn next_review_after_secs(&self, appid: &str, configured: &ReviewScript) -> i64 {
        let queued = self
            .code
            .get(appid)
            .and_then(|c| c.scripted_reviews.front());
        match (queued, &self.review_rule) {
            (Some(script), _) => script.after_secs(),
            (None, Some(rule)) => rule.after_secs(),
            (None, None) => configured.after_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(reject: f64, delay: f64, prefix: &str) -> FractionScript {
        serde_json::from_value(json!({
            "reject_fraction": reject, "delay_fraction": delay, "prefix": prefix,
        }))
        .expect("a fraction script")
    }

    fn appids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:012}")).collect()
    }

    #[test]
    fn exactly_the_rounded_share_of_the_population_is_rejected_and_delayed() {
        let all = appids("wxrule", 1000);
        let mut rule = ReviewRule::new(
            script(0.05, 0.02, "wxrule"),
            all.iter().map(String::as_str).chain(["wxother00000000001"]),
        );
        let summary = rule.summary();
        assert_eq!(summary["population"], 1000);
        assert_eq!(summary["rejected"].as_array().unwrap().len(), 50);
        assert_eq!(summary["delayed"].as_array().unwrap().len(), 20);
        let outcomes: Vec<ReviewScript> = all.iter().map(|a| rule.take(a)).collect();
        let count = |f: fn(&ReviewScript) -> bool| outcomes.iter().filter(|s| f(s)).count();
        assert_eq!(count(|s| matches!(s, ReviewScript::Reject { .. })), 50);
        assert_eq!(count(|s| matches!(s, ReviewScript::Delay { .. })), 20);
        // The same appids every time.
        let again = ReviewRule::new(
            script(0.05, 0.02, "wxrule"),
            all.iter().rev().map(String::as_str),
        );
        assert_eq!(again.summary()["rejected"], summary["rejected"]);
    }

    #[test]
    fn resubmissions_and_strangers_follow_the_draw() {
        let mut rule = ReviewRule::new(script(1.0, 0.0, ""), ["wxa"]);
        assert!(matches!(rule.take("wxa"), ReviewScript::Reject { .. }));
        assert!(matches!(rule.take("wxa"), ReviewScript::Reject { .. }));
        assert!(matches!(rule.take("wxb"), ReviewScript::Reject { .. }));
        let mut none = ReviewRule::new(script(0.0, 0.0, ""), ["wxa"]);
        assert!(matches!(none.take("wxb"), ReviewScript::Pass { .. }));
    }

    #[test]
    fn fractions_out_of_range_are_named() {
        assert!(script(1.5, 0.0, "")
            .check()
            .unwrap_err()
            .contains("reject_fraction"));
        assert!(script(0.6, 0.6, "")
            .check()
            .unwrap_err()
            .contains("at most 1"));
        assert!(script(0.0, -0.1, "")
            .check()
            .unwrap_err()
            .contains("delay_fraction"));
        assert!(script(0.05, 0.0, "").check().is_ok());
    }
}
