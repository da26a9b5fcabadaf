//! "Add to calendar": an iCalendar (RFC 5545) event for a show.

use crate::show::Show;

/// One VEVENT for the show, or `None` when it has no start time yet.
/// `url` is the public show page; `now` (Unix ms) becomes DTSTAMP.
pub fn show_ics(show: &Show, url: &str, now: i64) -> Option<String> {
    let start = show.starts_at?;
    let end = start + i64::from(show.run_of_show.planned_minutes()) * 60_000;
    let mut out = String::new();
    let mut line = |s: &str| fold_into(&mut out, s);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Vetrina//Live shopping//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line("BEGIN:VEVENT");
    line(&format!("UID:{}@vetrina", show.id));
    line(&format!("DTSTAMP:{}", utc_stamp(now)));
    line(&format!("DTSTART:{}", utc_stamp(start)));
    line(&format!("DTEND:{}", utc_stamp(end)));
    line(&format!("SUMMARY:{}", escape(&show.title)));
    let description = if show.description.is_empty() { url.to_string() } else { format!("{}\n\n{url}", show.description) };
    line(&format!("DESCRIPTION:{}", escape(&description)));
    line(&format!("URL:{}", url));
    line("BEGIN:VALARM");
    line("ACTION:DISPLAY");
    line(&format!("DESCRIPTION:{}", escape(&show.title)));
    line("TRIGGER:-PT10M");
    line("END:VALARM");
    line("END:VEVENT");
    line("END:VCALENDAR");
    Some(out)
}

fn utc_stamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".to_string())
}

/// Escapes TEXT values (RFC 5545 3.3.11).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character.
fn fold_into(out: &mut String, line: &str) {
    let mut n_octets = 0;
    for c in line.chars() {
        if n_octets + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            n_octets = 1;
        }
        out.push(c);
        n_octets += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, ShowId};
    use crate::show::{RunOfShow, ShowStatus};

    #[test]
    fn an_event_per_show() {
        let show = Show {
            id: ShowId("shw_1".into()),
            org_id: OrgId("org_1".into()),
            slug: "saldi".into(),
            title: "Saldi, sconti; e più".into(),
            description: "Cappotti e sciarpe di lana merino, tessuti a mano in Piemonte, per un inverno elegante e caldo.".into(),
            status: ShowStatus::Scheduled,
            starts_at: Some(1_796_144_400_000),
            time_zone: "Europe/Rome".into(),
            cover_src: None,
            host_ids: vec![],
            lineup: vec![],
            run_of_show: RunOfShow::default(),
            live_at: None,
            ended_at: None,
            created_at: 0,
            updated_at: 0,
        };
        let ics = show_ics(&show, "https://shop.example/shows/saldi", 1_795_000_000_000).unwrap();
        assert!(ics.contains("DTSTART:20261201T170000Z\r\n"), "{ics}");
        assert!(ics.contains("DTEND:20261201T180000Z\r\n"));
        assert!(ics.contains("SUMMARY:Saldi\\, sconti\\; e più\r\n"));
        assert!(ics.lines().all(|l| l.len() <= 76), "folded at 75 octets");
        assert!(ics.contains("\r\n "), "long description folds");
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(show_ics(&Show { starts_at: None, ..show }, "u", 0).is_none());
    }
}
