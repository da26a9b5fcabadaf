//! Shows: a title, a time, hosts, a line-up of products and a run of show, moving through
//! draft -> scheduled -> live -> ended.
//!
//! Times are Unix milliseconds inside; the show keeps the IANA time zone it was planned in so
//! pages and calendars show the local time the merchant meant.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Invalid;
use crate::ids::{OrgId, ProductId, ShowId, UserId, VariantId};
use crate::money::check_amount;
use crate::text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShowStatus {
    /// Being prepared; the public page says so and shows no time.
    Draft,
    /// Has a start time; the public page counts down.
    Scheduled,
    /// On air.
    Live,
    /// Over; the page becomes the replay.
    Ended,
}

impl ShowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShowStatus::Draft => "draft",
            ShowStatus::Scheduled => "scheduled",
            ShowStatus::Live => "live",
            ShowStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Result<ShowStatus, Invalid> {
        match s {
            "draft" => Ok(ShowStatus::Draft),
            "scheduled" => Ok(ShowStatus::Scheduled),
            "live" => Ok(ShowStatus::Live),
            "ended" => Ok(ShowStatus::Ended),
            other => Err(Invalid::new("status", format!("{other:?} is not a show status"))),
        }
    }

    /// Whether a show may move from `self` to `to`. Live comes from the media plane (or a host
    /// starting by hand); ended is final.
    pub fn may_become(self, to: ShowStatus) -> bool {
        use ShowStatus::*;
        matches!((self, to), (Draft, Scheduled) | (Scheduled, Draft) | (Draft | Scheduled, Live) | (Live, Ended))
    }
}

/// A show as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Show {
    pub id: ShowId,
    pub org_id: OrgId,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ShowStatus,
    /// Planned start, Unix milliseconds.
    pub starts_at: Option<i64>,
    /// IANA time zone the show was planned in, such as `Europe/Rome`.
    pub time_zone: String,
    pub cover_src: Option<String>,
    pub host_ids: Vec<UserId>,
    /// The products of the show, in the order they are presented.
    pub lineup: Vec<ProductId>,
    pub run_of_show: RunOfShow,
    pub live_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a person sends to create a show or change one: absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowPatch {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    /// RFC 3339 (`2026-12-01T18:00:00+01:00`), or a local time (`2026-12-01T18:00`) read in
    /// `time_zone`. `null` clears it (only while a draft).
    #[serde(default, deserialize_with = "some_or_null")]
    pub starts_at: Option<Option<String>>,
    pub time_zone: Option<String>,
    pub host_ids: Option<Vec<UserId>>,
    pub lineup: Option<Vec<ProductId>>,
    pub run_of_show: Option<RunOfShow>,
    /// `draft`, `scheduled`, `live` or `ended`, following the allowed moves.
    pub status: Option<ShowStatus>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The editable part of a show after a patch was applied and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowPlan {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ShowStatus,
    pub starts_at: Option<i64>,
    pub time_zone: String,
    pub host_ids: Vec<UserId>,
    pub lineup: Vec<ProductId>,
    pub run_of_show: RunOfShow,
}

impl ShowPlan {
    pub fn of(show: &Show) -> ShowPlan {
        ShowPlan {
            slug: show.slug.clone(),
            title: show.title.clone(),
            description: show.description.clone(),
            status: show.status,
            starts_at: show.starts_at,
            time_zone: show.time_zone.clone(),
            host_ids: show.host_ids.clone(),
            lineup: show.lineup.clone(),
            run_of_show: show.run_of_show.clone(),
        }
    }
}

/// What the rules need to know about the world to check a show.
pub struct ShowContext<'a> {
    /// Now, Unix milliseconds.
    pub now: i64,
    /// The organisation's products (any status).
    pub products: &'a HashSet<ProductId>,
    /// Who may host: members with a presenting role and creators invited to this show.
    pub hosts: &'a HashSet<UserId>,
    /// The organisation's time zone, used when a new show names none.
    pub default_time_zone: &'a str,
}

impl ShowPatch {
    /// Applies the patch to `current` (or to an empty show when creating) and checks every rule.
    pub fn apply(self, current: Option<&ShowPlan>, cx: &ShowContext<'_>) -> Result<ShowPlan, Invalid> {
        let editing_locked = current.is_some_and(|c| c.status == ShowStatus::Ended);
        if editing_locked && (self.starts_at.is_some() || self.time_zone.is_some() || self.slug.is_some()) {
            return Err(Invalid::new("status", "the show has ended: its time and address can no longer change"));
        }
        let title = match (self.title, current) {
            (Some(t), _) => text::required("title", &t, 200)?,
            (None, Some(c)) => c.title.clone(),
            (None, None) => return Err(Invalid::new("title", "a new show needs a title")),
        };
        let slug = match (self.slug, current) {
            (Some(s), _) => text::slug("slug", &s)?,
            (None, Some(c)) => c.slug.clone(),
            (None, None) => text::slugify(&title),
        };
        let description = match (self.description, current) {
            (Some(d), _) => text::limit("description", &d, 10_000)?,
            (None, Some(c)) => c.description.clone(),
            (None, None) => String::new(),
        };
        let time_zone = match (self.time_zone, current) {
            (Some(tz), _) => time_zone(&tz)?,
            (None, Some(c)) => c.time_zone.clone(),
            (None, None) => time_zone(cx.default_time_zone)?,
        };
        let starts_at = match (self.starts_at, current) {
            (Some(Some(s)), _) => Some(parse_start(&s, &time_zone)?),
            (Some(None), _) => None,
            (None, Some(c)) => c.starts_at,
            (None, None) => None,
        };
        let host_ids = match (self.host_ids, current) {
            (Some(h), _) => {
                let mut seen = Vec::new();
                for (i, id) in h.into_iter().enumerate() {
                    if !cx.hosts.contains(&id) {
                        return Err(Invalid::new(
                            format!("host_ids/{i}"),
                            format!("{id} is not a host, admin or owner of this organisation, nor a creator invited to this show"),
                        ));
                    }
                    if !seen.contains(&id) {
                        seen.push(id);
                    }
                }
                seen
            }
            (None, Some(c)) => c.host_ids.clone(),
            (None, None) => Vec::new(),
        };
        let lineup = match (self.lineup, current) {
            (Some(l), _) => {
                if l.len() > 500 {
                    return Err(Invalid::new("lineup", "at most 500 products in a line-up"));
                }
                let mut seen = Vec::new();
                for (i, id) in l.into_iter().enumerate() {
                    if !cx.products.contains(&id) {
                        return Err(Invalid::new(format!("lineup/{i}"), format!("{id} is not a product of this organisation")));
                    }
                    if !seen.contains(&id) {
                        seen.push(id);
                    }
                }
                seen
            }
            (None, Some(c)) => c.lineup.clone(),
            (None, None) => Vec::new(),
        };
        let run_of_show = match (self.run_of_show, current) {
            (Some(r), _) => r.validate(cx.products)?,
            (None, Some(c)) => c.run_of_show.clone(),
            (None, None) => RunOfShow::default(),
        };
        let old_status = current.map_or(ShowStatus::Draft, |c| c.status);
        let status = match self.status {
            Some(s) if s != old_status => {
                if !old_status.may_become(s) {
                    return Err(Invalid::new("status", format!("a {} show cannot become {}", old_status.as_str(), s.as_str())));
                }
                s
            }
            _ => old_status,
        };
        if status == ShowStatus::Scheduled {
            match starts_at {
                None => return Err(Invalid::new("starts_at", "a scheduled show needs a start time")),
                Some(t) if old_status != ShowStatus::Scheduled && t < cx.now => {
                    return Err(Invalid::new("starts_at", "the start time is in the past"));
                }
                Some(_) => {}
            }
        }
        // Every product of the run of show is part of the line-up, in the order first met.
        let mut lineup = lineup;
        for id in run_of_show.segments.iter().flat_map(|s| s.product_ids.iter()) {
            if !lineup.contains(id) {
                lineup.push(id.clone());
            }
        }
        Ok(ShowPlan { slug, title, description, status, starts_at, time_zone, host_ids, lineup, run_of_show })
    }
}

/// Checks an IANA time zone name against the bundled time zone database.
pub fn time_zone(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    jiff::tz::TimeZone::get(name)
        .map(|_| name.to_string())
        .map_err(|_| Invalid::new("time_zone", format!("{name:?} is not an IANA time zone such as \"Europe/Rome\"")))
}

/// Reads a start time: RFC 3339 with an offset, a zoned time (`...[Europe/Rome]`), or a local
/// time read in `tz`. Returns Unix milliseconds.
pub fn parse_start(text: &str, tz: &str) -> Result<i64, Invalid> {
    let text = text.trim();
    let bad = || {
        Invalid::new(
            "starts_at",
            format!("{text:?} is not a time: use RFC 3339 such as \"2026-12-01T18:00:00+01:00\" or a local \"2026-12-01T18:00\""),
        )
    };
    let ts = if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        ts
    } else if let Ok(zoned) = text.parse::<jiff::Zoned>() {
        zoned.timestamp()
    } else {
        let civil: jiff::civil::DateTime = text.parse().map_err(|_| bad())?;
        let tz = jiff::tz::TimeZone::get(tz).map_err(|_| bad())?;
        civil.to_zoned(tz).map_err(|_| bad())?.timestamp()
    };
    let ms = ts.as_millisecond();
    // Shows happen within a human lifetime of now; this also keeps arithmetic far from overflow.
    if !(0..=4_102_444_800_000).contains(&ms) {
        return Err(Invalid::new("starts_at", "must be between 1970 and 2100"));
    }
    Ok(ms)
}

/// Formats Unix milliseconds as RFC 3339 in UTC.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// Formats Unix milliseconds in a time zone, with its offset (`2026-12-01T18:00:00+01:00`).
pub fn local_time(ms: i64, tz: &str) -> String {
    let (Ok(ts), Ok(tz)) = (jiff::Timestamp::from_millisecond(ms), jiff::tz::TimeZone::get(tz)) else {
        return rfc3339(ms);
    };
    ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The host's plan for the show: ordered segments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunOfShow {
    pub segments: Vec<Segment>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub title: String,
    /// Notes for the host (talking points).
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    /// Products pinned when the segment starts.
    #[serde(default)]
    pub product_ids: Vec<ProductId>,
    #[serde(default)]
    pub deal: Option<Deal>,
    #[serde(default)]
    pub poll: Option<Poll>,
    /// Answers to questions the host expects, ready to send with one click.
    #[serde(default)]
    pub prepared_answers: Vec<PreparedAnswer>,
}

/// A flash deal started with a segment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deal {
    pub product_id: ProductId,
    /// One variant only; absent means every variant of the product.
    #[serde(default)]
    pub variant_id: Option<VariantId>,
    /// The deal price in minor units; or use `percent_off`.
    #[serde(default)]
    pub price_minor: Option<i64>,
    #[serde(default)]
    pub percent_off: Option<u8>,
    /// How many units are sold at the deal price at most.
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub per_buyer_limit: Option<i64>,
    /// How long the deal runs once started.
    pub duration_seconds: u32,
    /// The price in the replay, once the show has ended (no quantity cap, no end); absent: the
    /// deal ends with the live show.
    #[serde(default)]
    pub replay_price_minor: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    pub question: String,
    pub options: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreparedAnswer {
    pub question: String,
    pub answer: String,
}

impl RunOfShow {
    /// Checks the plan: sizes, texts, deals that make sense, products of this organisation.
    pub fn validate(self, products: &HashSet<ProductId>) -> Result<RunOfShow, Invalid> {
        if self.segments.len() > 100 {
            return Err(Invalid::new("run_of_show/segments", "at most 100 segments"));
        }
        let mut segments = Vec::with_capacity(self.segments.len());
        for (i, s) in self.segments.into_iter().enumerate() {
            let at = |f: &str| format!("run_of_show/segments/{i}/{f}");
            let title = text::required(&at("title"), &s.title, 200)?;
            let notes = text::limit(&at("notes"), &s.notes, 5_000)?;
            if s.duration_minutes.is_some_and(|d| d == 0 || d > 24 * 60) {
                return Err(Invalid::new(at("duration_minutes"), "between 1 and 1440 minutes"));
            }
            if s.product_ids.len() > 20 {
                return Err(Invalid::new(at("product_ids"), "at most 20 products per segment"));
            }
            for (j, id) in s.product_ids.iter().enumerate() {
                if !products.contains(id) {
                    return Err(Invalid::new(at(&format!("product_ids/{j}")), format!("{id} is not a product of this organisation")));
                }
            }
            let deal = match s.deal {
                None => None,
                Some(d) => {
                    if !products.contains(&d.product_id) {
                        return Err(Invalid::new(at("deal/product_id"), format!("{} is not a product of this organisation", d.product_id)));
                    }
                    match (d.price_minor, d.percent_off) {
                        (Some(p), None) => {
                            check_amount(&at("deal/price_minor"), p)?;
                        }
                        (None, Some(pct)) if (1..=99).contains(&pct) => {}
                        (None, Some(_)) => return Err(Invalid::new(at("deal/percent_off"), "between 1 and 99")),
                        _ => return Err(Invalid::new(at("deal"), "give either price_minor or percent_off")),
                    }
                    if let Some(p) = d.replay_price_minor {
                        check_amount(&at("deal/replay_price_minor"), p)?;
                    }
                    if d.quantity.is_some_and(|q| !(1..=1_000_000).contains(&q)) {
                        return Err(Invalid::new(at("deal/quantity"), "between 1 and 1000000"));
                    }
                    if d.per_buyer_limit.is_some_and(|q| !(1..=1_000).contains(&q)) {
                        return Err(Invalid::new(at("deal/per_buyer_limit"), "between 1 and 1000"));
                    }
                    if !(10..=24 * 3600).contains(&d.duration_seconds) {
                        return Err(Invalid::new(at("deal/duration_seconds"), "between 10 seconds and 24 hours"));
                    }
                    Some(d)
                }
            };
            let poll = match s.poll {
                None => None,
                Some(p) => {
                    let question = text::required(&at("poll/question"), &p.question, 300)?;
                    if !(2..=6).contains(&p.options.len()) {
                        return Err(Invalid::new(at("poll/options"), "a poll has 2 to 6 options"));
                    }
                    let mut options = Vec::new();
                    for (j, o) in p.options.iter().enumerate() {
                        options.push(text::required(&at(&format!("poll/options/{j}")), o, 100)?);
                    }
                    Some(Poll { question, options })
                }
            };
            if s.prepared_answers.len() > 50 {
                return Err(Invalid::new(at("prepared_answers"), "at most 50 prepared answers per segment"));
            }
            let mut prepared_answers = Vec::new();
            for (j, a) in s.prepared_answers.iter().enumerate() {
                prepared_answers.push(PreparedAnswer {
                    question: text::required(&at(&format!("prepared_answers/{j}/question")), &a.question, 500)?,
                    answer: text::required(&at(&format!("prepared_answers/{j}/answer")), &a.answer, 2_000)?,
                });
            }
            segments.push(Segment {
                title,
                notes,
                duration_minutes: s.duration_minutes,
                product_ids: s.product_ids,
                deal,
                poll,
                prepared_answers,
            });
        }
        Ok(RunOfShow { segments })
    }

    /// The planned length: the sum of segment durations, or an hour when none is given.
    pub fn planned_minutes(&self) -> u32 {
        let sum: u32 = self.segments.iter().filter_map(|s| s.duration_minutes).sum();
        if sum == 0 { 60 } else { sum }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000; // 2026-11-18

    fn cx<'a>(products: &'a HashSet<ProductId>, hosts: &'a HashSet<UserId>) -> ShowContext<'a> {
        ShowContext { now: NOW, products, hosts, default_time_zone: "Europe/Rome" }
    }

    #[test]
    fn lifecycle() {
        use ShowStatus::*;
        assert!(Draft.may_become(Scheduled));
        assert!(Scheduled.may_become(Live));
        assert!(Live.may_become(Ended));
        assert!(!Ended.may_become(Live));
        assert!(!Live.may_become(Draft));
    }

    #[test]
    fn start_times() {
        let utc = parse_start("2026-12-01T17:00:00Z", "Europe/Rome").unwrap();
        assert_eq!(parse_start("2026-12-01T18:00:00+01:00", "UTC").unwrap(), utc);
        assert_eq!(parse_start("2026-12-01T18:00", "Europe/Rome").unwrap(), utc);
        assert_eq!(parse_start("2026-12-01T18:00[Europe/Rome]", "UTC").unwrap(), utc);
        assert!(parse_start("tomorrow", "UTC").is_err());
        assert_eq!(local_time(utc, "Europe/Rome"), "2026-12-01T18:00:00+01:00");
        assert!(time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn scheduling_rules() {
        let p = ProductId("prd_1".into());
        let products: HashSet<_> = [p.clone()].into();
        let hosts = HashSet::new();
        let cx = cx(&products, &hosts);
        let new = |patch: ShowPatch| patch.apply(None, &cx);
        let plan = new(ShowPatch { title: Some("Saldi d'inverno".into()), ..Default::default() }).unwrap();
        assert_eq!(plan.slug, "saldi-d-inverno");
        assert_eq!(plan.time_zone, "Europe/Rome");
        assert_eq!(plan.status, ShowStatus::Draft);

        let err = ShowPatch { status: Some(ShowStatus::Scheduled), ..Default::default() }.apply(Some(&plan), &cx).unwrap_err();
        assert_eq!(err.field, "starts_at");
        let err = ShowPatch { starts_at: Some(Some("2020-01-01T10:00".into())), status: Some(ShowStatus::Scheduled), ..Default::default() }
            .apply(Some(&plan), &cx)
            .unwrap_err();
        assert!(err.reason.contains("past"));
        let scheduled = ShowPatch {
            starts_at: Some(Some("2026-12-01T18:00".into())),
            status: Some(ShowStatus::Scheduled),
            run_of_show: Some(RunOfShow {
                segments: vec![Segment { title: "Apertura".into(), product_ids: vec![p.clone()], ..Default::default() }],
            }),
            ..Default::default()
        }
        .apply(Some(&plan), &cx)
        .unwrap();
        assert_eq!(scheduled.lineup, vec![p.clone()], "run-of-show products join the line-up");

        let err =
            ShowPatch { lineup: Some(vec![ProductId("prd_foreign".into())]), ..Default::default() }.apply(Some(&plan), &cx).unwrap_err();
        assert_eq!(err.field, "lineup/0");
        let err = ShowPatch { host_ids: Some(vec![UserId("usr_x".into())]), ..Default::default() }.apply(Some(&plan), &cx).unwrap_err();
        assert_eq!(err.field, "host_ids/0");
        let err = ShowPatch { slug: Some("Not OK".into()), ..Default::default() }.apply(Some(&plan), &cx).unwrap_err();
        assert_eq!(err.field, "slug");
        let bad_deal = RunOfShow {
            segments: vec![Segment {
                title: "x".into(),
                deal: Some(Deal { product_id: p.clone(), duration_seconds: 60, ..Default::default() }),
                ..Default::default()
            }],
        };
        let err = ShowPatch { run_of_show: Some(bad_deal), ..Default::default() }.apply(Some(&plan), &cx).unwrap_err();
        assert_eq!(err.field, "run_of_show/segments/0/deal");
    }
}
