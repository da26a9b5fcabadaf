//! Turns what the media plane sees into show states: the first publish makes a show live; a
//! publisher gone for the whole grace period ends it. The rule is `vetrina_media::lifecycle`
//! (sans-IO); this task feeds it events and time and writes its decisions to the store.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vetrina_domain::ids::ShowId;
use vetrina_domain::show::ShowStatus;
use vetrina_media::lifecycle::{Decision, Lifecycle};
use vetrina_media::{Media, MediaEvent};
use vetrina_store::Store;
use vetrina_web::cache::Generation;

pub async fn follow_media(
    mut events: mpsc::Receiver<MediaEvent>,
    media: Media,
    store: Store,
    generation: Generation,
    grace: Duration,
    shutdown: CancellationToken,
) {
    let mut lifecycle = Lifecycle::new(grace);
    // Shows left live by a previous run (a crash, a restart) end unless their host comes back.
    match store.shows_with_status(ShowStatus::Live).await {
        Ok(shows) => {
            for show in shows {
                lifecycle.publisher_gone(show.as_str(), Instant::now());
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list live shows"),
    }
    loop {
        let wake = lifecycle.next_deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let decisions = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Some(MediaEvent::PublisherConnected { show }) => vec![lifecycle.publisher_connected(&show)],
                Some(MediaEvent::RecordingStarted { show, path, started_unix_ms }) => {
                    if let Err(e) = store.add_recording(&ShowId(show.clone()), &path.display().to_string(), started_unix_ms).await {
                        tracing::error!(show_id = show, error = %e, "cannot note the recording");
                    }
                    generation.advance();
                    Vec::new()
                }
                Some(MediaEvent::PublisherGone { show }) => {
                    tracing::info!(show_id = show, grace_s = grace.as_secs(), "publisher gone; the show ends unless it returns");
                    lifecycle.publisher_gone(&show, Instant::now());
                    Vec::new()
                }
                None => return,
            },
            () = tokio::time::sleep_until(wake.into()) => lifecycle.tick(Instant::now()),
        };
        for decision in decisions {
            let (show, from, to): (String, &[ShowStatus], ShowStatus) = match decision {
                Decision::Live(show) => (show, &[ShowStatus::Draft, ShowStatus::Scheduled], ShowStatus::Live),
                Decision::End(show) => {
                    let _ = media.end_show(&show).await;
                    (show, &[ShowStatus::Live], ShowStatus::Ended)
                }
            };
            match store.move_show(&ShowId(show.clone()), from, to).await {
                Ok(true) => {
                    generation.advance();
                    tracing::info!(show_id = show, status = to.as_str(), "show moved by media");
                }
                Ok(false) => {}
                Err(e) => tracing::error!(show_id = show, error = %e, "cannot move the show"),
            }
        }
    }
}
