//! The machine's floor for the live room's fan-out: what it costs this machine's kernel to write
//! one small frame to each of N loopback TCP connections, with a reader of every connection in
//! another process on the same cores, as in `room` and as the server's writers do. No WebSocket,
//! no room, no JSON: a bare loop of `write` calls over non-blocking sockets, a pass every tick,
//! and a reader that takes every byte through epoll. What the server spends per delivery above
//! this is its own; what this costs is what no server on this machine can save.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

use crate::{cpu_ms, percentile};

pub struct Floor {
    pub connections: usize,
    pub seconds: u64,
    /// Bytes in a frame (a room's frame of a few chat lines is 300-1,500 bytes).
    pub bytes: usize,
    pub frames_per_second: u32,
    /// Threads writing, each to its share of the connections (the room's writers).
    pub threads: usize,
}

/// Runs the writer here and the readers in a child process; prints nothing, returns the JSON.
pub fn run(floor: Floor) -> anyhow::Result<serde_json::Value> {
    if floor.connections == 0 || floor.threads == 0 || floor.frames_per_second == 0 {
        bail!("connections, threads and frames a second must be at least 1");
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut readers = std::process::Command::new(std::env::current_exe()?)
        .args(["floor-readers", "--addr", &addr.to_string(), "--connections", &floor.connections.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting the readers' process")?;
    let mut sockets = Vec::with_capacity(floor.connections);
    // The readers may fail (their open files limit): never wait for them for ever.
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sockets.len() < floor.connections {
        match listener.accept() {
            Ok((socket, _)) => {
                socket.set_nodelay(true)?;
                socket.set_nonblocking(true)?;
                sockets.push(socket);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if readers.try_wait()?.is_some() || Instant::now() > deadline {
                    let _ = readers.kill();
                    bail!("the readers connected {} of {} (is `ulimit -n` high enough?)", sockets.len(), floor.connections);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                let _ = readers.kill();
                return Err(e).context("accepting (is the open files limit high enough? `ulimit -n`)");
            }
        }
    }
    let frame = vec![b'x'; floor.bytes];
    let tick = Duration::from_secs(1) / floor.frames_per_second;
    let per_thread = sockets.len().div_ceil(floor.threads);
    let shares: Vec<Vec<TcpStream>> = {
        let mut all = sockets.into_iter();
        (0..floor.threads).map(|_| all.by_ref().take(per_thread).collect()).collect()
    };
    let readers_pid = readers.id().to_string();
    let (cpu_before, readers_before, wall_before) = (cpu_ms("self"), cpu_ms(&readers_pid), Instant::now());
    let end = Instant::now() + Duration::from_secs(floor.seconds);
    // Every thread runs the same passes on the same clock: a pass's time is its slowest share's.
    let passes: Vec<(Vec<u64>, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                let frame = &frame;
                scope.spawn(move || {
                    let (mut pass_us, mut written, mut full) = (Vec::new(), 0u64, 0u64);
                    let mut next = Instant::now();
                    while next < end {
                        let started = Instant::now();
                        for mut socket in share {
                            match socket.write(frame) {
                                Ok(_) => written += 1,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => full += 1,
                                Err(_) => full += 1,
                            }
                        }
                        pass_us.push(started.elapsed().as_micros() as u64);
                        next += tick;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        } else {
                            next = Instant::now();
                        }
                    }
                    (pass_us, written, full)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let (cpu_after, readers_after, wall) = (cpu_ms("self"), cpu_ms(&readers_pid), wall_before.elapsed().as_secs_f64());
    drop(shares);
    let output = readers.wait_with_output()?;
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let written: u64 = passes.iter().map(|p| p.1).sum();
    let full: u64 = passes.iter().map(|p| p.2).sum();
    let n_passes = passes.iter().map(|p| p.0.len()).min().unwrap_or(0);
    let mut pass_us: Vec<u64> = (0..n_passes).map(|i| passes.iter().map(|p| p.0[i]).max().unwrap_or(0)).collect();
    pass_us.sort_unstable();
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    let writer_ms = cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a));
    let readers_ms = readers_before.zip(readers_after).map(|(a, b)| b.saturating_sub(a));
    let us_per_write = writer_ms.filter(|_| written > 0).map(|ms| ms as f64 * 1000.0 / written as f64);
    Ok(serde_json::json!({
        "connections": floor.connections,
        "bytes": floor.bytes,
        "frames_per_second": floor.frames_per_second,
        "threads": floor.threads,
        "seconds": wall,
        "passes": n_passes,
        "writes": written,
        "writes_per_second": written as f64 / wall,
        "writes_refused_full": full,
        "pass_p50_ms": ms(percentile(&pass_us, 0.5)),
        "pass_p99_ms": ms(percentile(&pass_us, 0.99)),
        "writer_us_per_write": us_per_write,
        "writer_cores": writer_ms.map(|ms| ms as f64 / 1000.0 / wall),
        "readers_cores": readers_ms.map(|ms| ms as f64 / 1000.0 / wall),
        "bytes_read": read["bytes"],
        // A pass over 100,000 connections, from this one's wall time (the same cores, shared alike).
        "pass_p50_at_100k_ms": ms(percentile(&pass_us, 0.5)).map(|ms| ms * 100_000.0 / floor.connections as f64),
    }))
}

/// The readers' process: connects `connections` times to `addr` and reads every byte until the
/// writer closes them all. Prints `{"bytes": N}`.
pub fn read_all(addr: SocketAddr, connections: usize) -> anyhow::Result<serde_json::Value> {
    let mut poll = Poll::new()?;
    let mut streams = Vec::with_capacity(connections);
    for i in 0..connections {
        let stream = TcpStream::connect(addr).with_context(|| format!("connection {i} (is `ulimit -n` high enough?)"))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = MioStream::from_std(stream);
        poll.registry().register(&mut stream, Token(i), Interest::READABLE)?;
        streams.push(Some(stream));
    }
    let (mut open, mut bytes) = (connections, 0u64);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while open > 0 {
        poll.poll(&mut events, Some(Duration::from_secs(30)))?;
        if events.is_empty() {
            bail!("no byte for 30 s with {open} connections open");
        }
        for event in &events {
            let Some(stream) = streams.get_mut(event.token().0).and_then(Option::as_mut) else { continue };
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        let _ = poll.registry().deregister(stream);
                        streams[event.token().0] = None;
                        open -= 1;
                        break;
                    }
                    Ok(n) => bytes += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        streams[event.token().0] = None;
                        open -= 1;
                        break;
                    }
                }
            }
        }
    }
    Ok(serde_json::json!({ "bytes": bytes }))
}
