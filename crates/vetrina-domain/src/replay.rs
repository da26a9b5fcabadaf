//! Replays: the chapters of a show (one per pin or run-of-show segment), the pin that led to a
//! purchase, the clips a merchant cuts and the ones suggested per segment. Sans-IO: timeline
//! events come in as (media time, kind, data JSON) in media-time order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Invalid;
use crate::ids::ClipId;
use crate::text;

/// A moment of the show worth jumping to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Chapter {
    /// Media time (ms) where it starts; pins from before the recording count as 0.
    pub media_ms: i64,
    /// `segment` (the host moved to the next segment of the run of show) or `pin`.
    pub kind: &'static str,
    /// The segment's title (segments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The product pinned then (a segment pins its first product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The run-of-show segment (segments only), from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<usize>,
}

/// The chapters of a show from its `pin` and `segment` timeline events (media-time order). A
/// segment and the pin it made at the same moment are one chapter; pinning the product that is
/// pinned already, or unpinning, makes none.
pub fn chapters<'a>(events: impl IntoIterator<Item = (Option<i64>, &'a str, &'a str)>) -> Vec<Chapter> {
    let mut out: Vec<Chapter> = Vec::new();
    let mut pinned: Option<String> = None;
    for (media_ms, kind, data) in events {
        let media_ms = media_ms.unwrap_or(0).max(0);
        let Ok(data) = serde_json::from_str::<serde_json::Value>(data) else { continue };
        match kind {
            "pin" => {
                let product = data.get("product_id").and_then(|p| p.as_str()).map(str::to_string);
                let Some(product) = product else {
                    pinned = None;
                    continue;
                };
                if pinned.as_deref() == Some(product.as_str()) {
                    continue;
                }
                pinned = Some(product.clone());
                match out.last_mut() {
                    Some(last) if last.media_ms == media_ms && last.kind == "segment" && last.product_id.is_none() => {
                        last.product_id = Some(product);
                    }
                    _ => out.push(Chapter { media_ms, kind: "pin", title: None, product_id: Some(product), segment: None }),
                }
            }
            "segment" => {
                let title = data.get("title").and_then(|t| t.as_str()).map(str::to_string);
                let segment = data.get("index").and_then(|i| i.as_u64()).map(|i| i as usize);
                let first = data.get("product_ids").and_then(|p| p.get(0)).and_then(|p| p.as_str()).map(str::to_string);
                // The segment's pin comes just before it, at the same moment.
                let merged = out.last().is_some_and(|last| last.media_ms == media_ms && last.kind == "pin" && last.product_id == first);
                if merged {
                    out.pop();
                }
                if first.is_some() {
                    pinned = first.clone();
                }
                out.push(Chapter { media_ms, kind: "segment", title, product_id: first, segment });
            }
            _ => {}
        }
    }
    out
}

/// The chapter that led to buying `product` at `media_ms`: the latest showing of that product at
/// or before that moment.
pub fn pin_for<'a>(chapters: &'a [Chapter], product: &str, media_ms: i64) -> Option<&'a Chapter> {
    chapters.iter().rev().find(|c| c.media_ms <= media_ms && c.product_id.as_deref() == Some(product))
}

/// A clip as the merchant asks for it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipRequest {
    pub title: String,
    /// Media time (ms) where the clip starts; it is cut at the keyframe at or before it.
    pub start_ms: i64,
    /// Media time (ms) where it ends; the clip runs to the next keyframe after it.
    pub end_ms: i64,
}

/// Longest clip: an hour.
pub const MAX_CLIP_MS: i64 = 3_600_000;

impl ClipRequest {
    /// Checks what can be checked without the recording.
    pub fn validate(self) -> Result<ClipRequest, Invalid> {
        let title = text::required("title", &self.title, 200)?;
        if self.start_ms < 0 {
            return Err(Invalid::new("start_ms", "a moment of the recording: 0 or more"));
        }
        if self.end_ms <= self.start_ms {
            return Err(Invalid::new("end_ms", format!("after start_ms ({} ms); got {} ms", self.start_ms, self.end_ms)));
        }
        if self.end_ms - self.start_ms > MAX_CLIP_MS {
            return Err(Invalid::new("end_ms", "a clip is at most an hour long"));
        }
        Ok(ClipRequest { title, ..self })
    }
}

/// A clip cut from a show's recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Clip {
    pub id: ClipId,
    #[schema(value_type = String)]
    pub show_id: crate::ids::ShowId,
    pub title: String,
    /// The range of the show's media time the clip covers (cut on keyframes).
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: i64,
    pub created_at: i64,
}

/// A clip worth cutting: one per run-of-show segment, to the next chapter of another segment or
/// to the end of the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SuggestedClip {
    pub title: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub product_id: Option<String>,
}

/// Suggestions for a recording of `end_ms`: segments shorter than 3 s are left out.
pub fn suggested_clips(chapters: &[Chapter], end_ms: i64) -> Vec<SuggestedClip> {
    let segments: Vec<&Chapter> = chapters.iter().filter(|c| c.kind == "segment").collect();
    segments
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let end = segments.get(i + 1).map_or(end_ms, |n| n.media_ms).min(c.media_ms + MAX_CLIP_MS);
            (end - c.media_ms >= 3_000).then(|| SuggestedClip {
                title: c.title.clone().unwrap_or_default(),
                start_ms: c.media_ms,
                end_ms: end,
                product_id: c.product_id.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<(Option<i64>, &'static str, &'static str)> {
        vec![
            (None, "pin", r#"{"product_id":"prd_a","at":1}"#),
            (Some(500), "chat", r#"{"text":"ciao"}"#),
            (Some(4_000), "pin", r#"{"product_id":"prd_b","at":2}"#),
            (Some(4_000), "segment", r#"{"index":0,"title":"Il lino","product_ids":["prd_b","prd_c"]}"#),
            (Some(6_000), "pin", r#"{"product_id":"prd_b","at":3}"#),
            (Some(7_000), "pin", "null"),
            (Some(9_000), "pin", r#"{"product_id":"prd_a","at":4}"#),
            (Some(20_000), "segment", r#"{"index":1,"title":"Chiusura","product_ids":[]}"#),
            (Some(21_000), "pin", "not json"),
        ]
    }

    #[test]
    fn chapters_per_pin_and_segment() {
        let c = chapters(events());
        let got: Vec<(i64, &str, Option<&str>)> = c.iter().map(|c| (c.media_ms, c.kind, c.product_id.as_deref())).collect();
        assert_eq!(
            got,
            vec![(0, "pin", Some("prd_a")), (4_000, "segment", Some("prd_b")), (9_000, "pin", Some("prd_a")), (20_000, "segment", None)]
        );
        assert_eq!(c[1].title.as_deref(), Some("Il lino"));
        assert_eq!(c[1].segment, Some(0));
    }

    #[test]
    fn the_pin_that_led_to_a_purchase() {
        let c = chapters(events());
        assert_eq!(pin_for(&c, "prd_a", 10_000).map(|c| c.media_ms), Some(9_000));
        assert_eq!(pin_for(&c, "prd_a", 8_000).map(|c| c.media_ms), Some(0));
        assert_eq!(pin_for(&c, "prd_b", 3_999), None, "not shown yet");
        assert_eq!(pin_for(&c, "prd_z", 30_000), None);
    }

    #[test]
    fn a_clip_per_segment() {
        let c = chapters(events());
        let s = suggested_clips(&c, 60_000);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].start_ms, s[0].end_ms, s[0].title.as_str()), (4_000, 20_000, "Il lino"));
        assert_eq!((s[1].start_ms, s[1].end_ms), (20_000, 60_000));
        assert!(suggested_clips(&c, 21_000).len() == 1, "too short to suggest");
    }

    #[test]
    fn clip_requests() {
        let ok = ClipRequest { title: " Il lino ".into(), start_ms: 0, end_ms: 10 }.validate().unwrap();
        assert_eq!(ok.title, "Il lino");
        let bad = |start_ms, end_ms, title: &str| ClipRequest { title: title.into(), start_ms, end_ms }.validate().unwrap_err().field;
        assert_eq!(bad(10, 5, "x"), "end_ms");
        assert_eq!(bad(10, 10, "x"), "end_ms");
        assert_eq!(bad(-1, 5, "x"), "start_ms");
        assert_eq!(bad(0, MAX_CLIP_MS + 1, "x"), "end_ms");
        assert_eq!(bad(0, 5, " "), "title");
    }
}
