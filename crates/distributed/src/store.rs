//! The rendezvous store: a small TCP key-value server (PyTorch's `TCPStore`).
//!
//! Rank 0 serves it on `MASTER_ADDR:MASTER_PORT`; every rank (rank 0 included) talks to it
//! through a client connection. It carries what the ranks must agree on before any collective
//! can run: the NCCL unique id, barriers, small flags. Values are bytes; [`TcpStore::get`]
//! waits until the key is set or the timeout passes, so "wait for rank 0 to publish X" is one
//! call and a rank that never arrives is an error, not a hang.
//!
//! The wire format is one request and one reply at a time per connection:
//! `op:u8, key_len:u32, key` then `SET: len:u32, value` → `0`;
//! `GET: timeout_ms:u64` → `0, len:u32, value` or `1` (timed out);
//! `ADD: delta:i64` → `0, new:i64` (the value is 8 little-endian bytes).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tiny_torch_core::{Error, Result};

const SET: u8 = 1;
const GET: u8 = 2;
const ADD: u8 = 3;
const OK: u8 = 0;
const TIMED_OUT: u8 = 1;

/// A client of the store (and, on rank 0, its server).
pub struct TcpStore {
    endpoint: String,
    /// On the rank that serves the store: its table (to wait for the clients at drop) and the
    /// accepting thread (stopped at drop, which frees the port).
    served: Option<(Arc<Table>, std::thread::JoinHandle<()>)>,
    connection: Mutex<Connection>,
    timeout: Duration,
    barriers: AtomicU64,
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl std::fmt::Debug for TcpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TcpStore({})", self.endpoint)
    }
}

impl TcpStore {
    /// Starts the server on `0.0.0.0:port` (port 0 picks a free one; see [`TcpStore::port`])
    /// and connects to it. The server stops, and the port is free again, when this store is
    /// dropped (after the other ranks have disconnected, or the timeout).
    pub fn serve(port: u16, timeout: Duration) -> Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
            Error::distributed(
                "TcpStore",
                format!("cannot listen on port {port} for the rendezvous store: {e} (is another job using MASTER_PORT={port}?)"),
            )
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let table = Arc::new(Table::default());
        let served = table.clone();
        let server = std::thread::Builder::new()
            .name("tiny-torch-store".into())
            .spawn(move || serve_until_stopped(listener, table))
            .map_err(|e| {
                Error::distributed("TcpStore", format!("cannot start the server thread: {e}"))
            })?;
        let stop_server = |table: &Table| {
            table.stopping.store(true, Ordering::Relaxed);
            let _ = TcpStream::connect(("127.0.0.1", port)); // wakes the accept
        };
        let mut store = match Self::connect("127.0.0.1", port, timeout) {
            Ok(store) => store,
            Err(e) => {
                stop_server(&served);
                let _ = server.join();
                return Err(e);
            }
        };
        store.served = Some((served, server));
        Ok(store)
    }

    /// Connects to the store at `host:port`, retrying until `timeout` (rank 0 may start later
    /// than the others).
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self> {
        let endpoint = format!("{host}:{port}");
        let deadline = deadline_after(timeout);
        let stream = loop {
            let attempt = endpoint
                .to_socket_addrs()
                .map_err(|e| {
                    Error::distributed("TcpStore", format!("cannot resolve {endpoint}: {e}"))
                })?
                .find_map(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok());
            if let Some(stream) = attempt {
                break stream;
            }
            if Instant::now() >= deadline {
                return Err(Error::distributed(
                    "TcpStore",
                    format!(
                        "no rendezvous store answered at {endpoint} within {timeout:?} (is rank 0 \
                         running, and are MASTER_ADDR/MASTER_PORT the same on every rank?)"
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = stream.set_nodelay(true);
        let writer = stream
            .try_clone()
            .map_err(|e| Error::distributed("TcpStore", format!("{endpoint}: {e}")))?;
        Ok(TcpStore {
            endpoint,
            served: None,
            connection: Mutex::new(Connection {
                reader: BufReader::new(stream),
                writer: BufWriter::new(writer),
            }),
            timeout,
            barriers: AtomicU64::new(0),
        })
    }

    /// The port the store listens on.
    pub fn port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The timeout of [`TcpStore::get`] and [`TcpStore::barrier`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets `key` to `value` (waking every rank waiting for it).
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut request = header(SET, key);
        request.extend_from_slice(&(value.len() as u32).to_le_bytes());
        request.extend_from_slice(value);
        self.round_trip("set", key, &request, |_, _| Ok(()))
    }

    /// The value of `key`, waiting up to the store's timeout for some rank to set it.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        let mut request = header(GET, key);
        request.extend_from_slice(&(self.timeout.as_millis() as u64).to_le_bytes());
        self.round_trip("get", key, &request, |status, reader| match status {
            OK => {
                let len = read_u32(reader)? as usize;
                let mut value = vec![0; len];
                reader.read_exact(&mut value)?;
                Ok(Some(value))
            }
            _ => Ok(None),
        })?
        .ok_or_else(|| {
            Error::distributed(
                "TcpStore::get",
                format!(
                    "key {key:?} was not set within {:?} (a rank died, hangs, or runs different code)",
                    self.timeout
                ),
            )
        })
    }

    /// Adds `delta` to the counter `key` (0 when new) and returns the new value.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64> {
        let mut request = header(ADD, key);
        request.extend_from_slice(&delta.to_le_bytes());
        self.round_trip("add", key, &request, |_, reader| {
            let mut bytes = [0; 8];
            reader.read_exact(&mut bytes)?;
            Ok(i64::from_le_bytes(bytes))
        })
    }

    /// Waits until `world_size` ranks have called `barrier` this many times.
    pub fn barrier(&self, world_size: usize) -> Result<()> {
        let generation = self.barriers.fetch_add(1, Ordering::Relaxed);
        let key = format!("tiny-torch/barrier/{generation}");
        if self.add(&key, 1)? == world_size as i64 {
            self.set(&format!("{key}/done"), &[1])
        } else {
            self.get(&format!("{key}/done")).map(|_| ())
        }
    }

    fn round_trip<T>(
        &self,
        op: &str,
        key: &str,
        request: &[u8],
        read_reply: impl FnOnce(u8, &mut BufReader<TcpStream>) -> std::io::Result<T>,
    ) -> Result<T> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Connection { reader, writer } = &mut *connection;
        let result = (|| {
            writer.write_all(request)?;
            writer.flush()?;
            let mut status = [0u8];
            reader.read_exact(&mut status)?;
            read_reply(status[0], reader)
        })();
        result.map_err(|e| {
            Error::distributed(
                format!("TcpStore::{op}({key:?})"),
                format!(
                    "lost the connection to the rendezvous store at {} ({e}): rank 0 serves it; \
                     did it exit?",
                    self.endpoint
                ),
            )
        })
    }
}

impl Drop for TcpStore {
    /// The serving rank keeps the store up until the other ranks have disconnected (or the
    /// timeout passed), so that a rank finishing first does not cut the others off mid-request.
    fn drop(&mut self) {
        let Some((table, server)) = self.served.take() else {
            return;
        };
        if let Ok(connection) = self.connection.get_mut() {
            let _ = connection
                .reader
                .get_ref()
                .shutdown(std::net::Shutdown::Both);
        }
        let deadline = deadline_after(self.timeout);
        let mut clients = table.clients.lock().unwrap_or_else(|p| p.into_inner());
        while *clients > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            clients = table
                .clients_changed
                .wait_timeout(clients, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(clients);
        // Stop accepting: the flag, then a connection that wakes the blocked accept.
        table.stopping.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.endpoint);
        let _ = server.join();
    }
}

fn header(op: u8, key: &str) -> Vec<u8> {
    let mut bytes = vec![op];
    bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// The server's key-value table; `changed` wakes the waiting `GET`s.
#[derive(Default)]
struct Table {
    values: Mutex<HashMap<String, Vec<u8>>>,
    changed: Condvar,
    /// Open client connections.
    clients: Mutex<usize>,
    clients_changed: Condvar,
    /// Set when the serving store is dropped: the accept loop ends (and the port is freed).
    stopping: AtomicBool,
}

fn serve_until_stopped(listener: TcpListener, table: Arc<Table>) {
    for stream in listener.incoming().flatten() {
        if table.stopping.load(Ordering::Relaxed) {
            return;
        }
        let table = table.clone();
        let _ = std::thread::Builder::new()
            .name("tiny-torch-store-conn".into())
            .spawn(move || {
                *table.clients.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                // A client that goes away ends its connection.
                let _ = serve_client(stream, &table);
                *table.clients.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                table.clients_changed.notify_all();
            });
    }
}

fn serve_client(stream: TcpStream, table: &Table) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    loop {
        let mut op = [0u8];
        if reader.read_exact(&mut op).is_err() {
            return Ok(()); // the client closed the connection
        }
        let key_len = read_u32(&mut reader)? as usize;
        let mut key = vec![0; key_len];
        reader.read_exact(&mut key)?;
        let key = String::from_utf8_lossy(&key).into_owned();
        let lock = || table.values.lock().unwrap_or_else(|p| p.into_inner());
        match op[0] {
            SET => {
                let len = read_u32(&mut reader)? as usize;
                let mut value = vec![0; len];
                reader.read_exact(&mut value)?;
                lock().insert(key, value);
                table.changed.notify_all();
                writer.write_all(&[OK])?;
            }
            GET => {
                let mut millis = [0; 8];
                reader.read_exact(&mut millis)?;
                let deadline = deadline_after(Duration::from_millis(u64::from_le_bytes(millis)));
                let mut values = lock();
                let value = loop {
                    if let Some(value) = values.get(&key) {
                        break Some(value.clone());
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break None;
                    }
                    values = table
                        .changed
                        .wait_timeout(values, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                };
                drop(values);
                match value {
                    Some(value) => {
                        writer.write_all(&[OK])?;
                        writer.write_all(&(value.len() as u32).to_le_bytes())?;
                        writer.write_all(&value)?;
                    }
                    None => writer.write_all(&[TIMED_OUT])?,
                }
            }
            ADD => {
                let mut delta = [0; 8];
                reader.read_exact(&mut delta)?;
                let new = {
                    let mut values = lock();
                    let slot = values.entry(key).or_insert_with(|| vec![0; 8]);
                    let old = slot
                        .as_slice()
                        .try_into()
                        .map(i64::from_le_bytes)
                        .unwrap_or(0);
                    let new = old.wrapping_add(i64::from_le_bytes(delta));
                    *slot = new.to_le_bytes().to_vec();
                    new
                };
                table.changed.notify_all();
                writer.write_all(&[OK])?;
                writer.write_all(&new.to_le_bytes())?;
            }
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown store request {other}"),
                ));
            }
        }
        writer.flush()?;
    }
}

/// `now + timeout`, or a century from now for a timeout past what an `Instant` can hold
/// (`Duration::MAX` means "wait as long as it takes", and `+` would panic).
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_add_and_waiting_get_across_clients() {
        let server = TcpStore::serve(0, Duration::from_secs(10)).unwrap();
        let port = server.port();
        let client = TcpStore::connect("127.0.0.1", port, Duration::from_secs(10)).unwrap();
        server.set("a", b"hello").unwrap();
        assert_eq!(client.get("a").unwrap(), b"hello");
        // A get that waits for a key another client sets later.
        let waiter = std::thread::spawn(move || client.get("late").unwrap());
        std::thread::sleep(Duration::from_millis(100));
        server.set("late", b"value").unwrap();
        assert_eq!(waiter.join().unwrap(), b"value");
        assert_eq!(server.add("n", 2).unwrap(), 2);
        assert_eq!(server.add("n", -5).unwrap(), -3);
    }

    #[test]
    fn dropping_the_serving_store_frees_its_port() {
        let server = TcpStore::serve(0, Duration::from_secs(5)).unwrap();
        let port = server.port();
        let client = TcpStore::connect("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        drop(client);
        drop(server);
        // A second job on the same MASTER_PORT can serve its own store.
        let again = TcpStore::serve(port, Duration::from_secs(5)).unwrap();
        again.set("k", b"v").unwrap();
        assert_eq!(again.get("k").unwrap(), b"v");
    }

    #[test]
    fn an_unbounded_timeout_waits_without_overflow() {
        // Duration::MAX means "no deadline": connecting, waiting and dropping must not
        // overflow an Instant; an ADD past i64 wraps instead of killing the server thread.
        let server = TcpStore::serve(0, Duration::MAX).unwrap();
        let client = TcpStore::connect("127.0.0.1", server.port(), Duration::MAX).unwrap();
        server.set("k", b"v").unwrap();
        assert_eq!(client.get("k").unwrap(), b"v");
        assert_eq!(client.add("big", i64::MAX).unwrap(), i64::MAX);
        assert_eq!(client.add("big", 1).unwrap(), i64::MIN);
        assert_eq!(server.get("k").unwrap(), b"v");
        drop(client);
    }

    #[test]
    fn barrier_releases_every_rank_together() {
        let server = TcpStore::serve(0, Duration::from_secs(10)).unwrap();
        let port = server.port();
        let ranks: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(move || {
                    let store =
                        TcpStore::connect("127.0.0.1", port, Duration::from_secs(10)).unwrap();
                    for round in 0..3 {
                        store.add(&format!("arrived/{round}"), 1).unwrap();
                        store.barrier(3).unwrap();
                        // After the barrier every rank has arrived at this round.
                        assert_eq!(store.add(&format!("arrived/{round}"), 0).unwrap(), 3);
                    }
                })
            })
            .collect();
        for rank in ranks {
            rank.join().unwrap();
        }
    }

    #[test]
    fn missing_key_and_missing_server_are_errors_not_hangs() {
        let server = TcpStore::serve(0, Duration::from_millis(200)).unwrap();
        let start = Instant::now();
        let err = server.get("never").unwrap_err().to_string();
        assert!(err.contains("\"never\" was not set within"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // A port nobody listens on: the one the server got, after binding a fresh one.
        let unused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = TcpStore::connect("127.0.0.1", unused, Duration::from_millis(300)).unwrap_err();
        assert!(
            err.to_string().contains("no rendezvous store answered"),
            "{err}"
        );
    }
}
