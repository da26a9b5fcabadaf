//! Writes every live show to `<recordings dir>/<show>.mp4` (`.webm` for a VP8 publisher) as it
//! arrives, on a thread of its own
//! so disk writes never stall the media engine. Each fragment is written and synced before the
//! next, so a crash leaves a file that plays up to the last fragment.
//!
//! The engine sends frames through a bounded queue; if the disk cannot keep up and the queue is
//! full, frames are dropped (and counted in the log) rather than held in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fmp4::{Container, Fmp4Recorder, Kind};

pub enum Record {
    Frame {
        show: String,
        kind: Kind,
        rtp: u64,
        wall: Instant,
        data: std::sync::Arc<[u8]>,
    },
    /// A new publisher for the show: its RTP clocks restart.
    Resume {
        show: String,
    },
    /// The show ended: write what is left and close the file.
    Stop {
        show: String,
    },
}

/// The first keyframe of a show was written: media time 0 is `started_unix_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingStarted {
    pub show: String,
    pub path: PathBuf,
    pub started_unix_ms: i64,
}

#[derive(Clone)]
pub struct Recorders {
    queue: SyncSender<Record>,
}

impl Recorders {
    /// Starts the recording thread writing under `dir`; `started` hears of each new recording.
    pub fn start(dir: PathBuf, started: tokio::sync::mpsc::Sender<RecordingStarted>) -> std::io::Result<Recorders> {
        std::fs::create_dir_all(&dir)?;
        let (queue, frames) = sync_channel(4096);
        std::thread::Builder::new().name("vetrina-recorder".into()).spawn(move || run(dir, frames, started))?;
        Ok(Recorders { queue })
    }

    pub fn send(&self, record: Record) {
        match self.queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => tracing::error!("the recording thread is gone: nothing is recorded"),
            Err(TrySendError::Full(_)) => tracing::warn!("recording queue full: the disk is too slow; a frame was dropped"),
        }
    }
}

struct Recording {
    muxer: Fmp4Recorder,
    file: File,
    path: PathBuf,
    last_frame: Instant,
    flushed: bool,
    announced: bool,
}

fn write(recording: &mut Recording, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Err(e) = recording.file.write_all(bytes).and_then(|()| recording.file.sync_data()) {
        tracing::error!(path = %recording.path.display(), error = %e, "cannot write the recording");
    }
}

fn open(dir: &std::path::Path, show: &str, container: Container) -> std::io::Result<(File, PathBuf)> {
    // A show recorded before (a restart of the server mid-show, a publisher with another codec)
    // gets a new part, never a second init segment in the middle of a file.
    let safe: String = show.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    for part in 1.. {
        let stem = if part == 1 { safe.clone() } else { format!("{safe}.part{part}") };
        if [Container::Mp4, Container::WebM].iter().any(|c| dir.join(format!("{stem}.{}", c.extension())).exists()) {
            continue;
        }
        let path = dir.join(format!("{stem}.{}", container.extension()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop above only ends by returning")
}

fn run(dir: PathBuf, frames: Receiver<Record>, started: tokio::sync::mpsc::Sender<RecordingStarted>) {
    let mut recordings: HashMap<String, Recording> = HashMap::new();
    // Shows that ended: late frames (a publisher still sending) never start a new file.
    let mut stopped: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let record = match frames.recv_timeout(Duration::from_secs(1)) {
            Ok(r) => Some(r),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match record {
            Some(Record::Frame { show, kind, rtp, wall, data }) => {
                if stopped.contains(&show) {
                    continue;
                }
                // A file starts with video (its codec decides the container); a publisher that
                // comes back with the other codec starts a new part.
                let container = (kind != Kind::Audio).then(|| Container::for_video(kind));
                if let (Some(container), Some(recording)) = (container, recordings.get(&show))
                    && recording.muxer.container() != container
                    && let Some(mut previous) = recordings.remove(&show)
                {
                    let bytes = previous.muxer.finish();
                    write(&mut previous, &bytes);
                    tracing::info!(show, path = %previous.path.display(), "the publisher changed codec: recording a new part");
                }
                if !recordings.contains_key(&show) {
                    let Some(container) = container else { continue };
                    match open(&dir, &show, container) {
                        Ok((file, path)) => {
                            tracing::info!(show, path = %path.display(), "recording");
                            let recording = Recording {
                                muxer: Fmp4Recorder::with(container),
                                file,
                                path,
                                last_frame: wall,
                                flushed: false,
                                announced: false,
                            };
                            recordings.insert(show.clone(), recording);
                        }
                        Err(e) => {
                            tracing::error!(show, error = %e, "cannot create the recording file");
                            continue;
                        }
                    }
                }
                let Some(recording) = recordings.get_mut(&show) else { continue };
                let bytes = recording.muxer.push(kind, rtp, wall, &data);
                write(recording, &bytes);
                recording.last_frame = Instant::now();
                recording.flushed = false;
                if !recording.announced
                    && let Some(t0) = recording.muxer.started()
                {
                    recording.announced = true;
                    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                    let started_unix_ms = unix_now - Instant::now().saturating_duration_since(t0).as_millis() as i64;
                    let _ = started.try_send(RecordingStarted { show: show.clone(), path: recording.path.clone(), started_unix_ms });
                }
            }
            Some(Record::Resume { show }) => {
                if let Some(recording) = recordings.get_mut(&show) {
                    recording.muxer.resume();
                }
            }
            Some(Record::Stop { show }) => {
                stopped.insert(show.clone());
                if let Some(mut recording) = recordings.remove(&show) {
                    let bytes = recording.muxer.finish();
                    write(&mut recording, &bytes);
                    tracing::info!(show, path = %recording.path.display(), "recording closed");
                }
            }
            None => {}
        }
        // A publisher that went quiet: write out what is held, so the file is complete up to now.
        for recording in recordings.values_mut() {
            if !recording.flushed && recording.last_frame.elapsed() > Duration::from_secs(2) {
                let bytes = recording.muxer.finish();
                write(recording, &bytes);
                recording.muxer.resume();
                recording.flushed = true;
            }
        }
    }
    for (_, mut recording) in recordings {
        let bytes = recording.muxer.finish();
        write(&mut recording, &bytes);
    }
}
