//! TLS for the examples: rustls configurations from PEM files (ring provider), and for the std
//! examples the TLS handshake done up front, so that a certificate problem is reported as one
//! rather than as the WebSocket handshake's I/O error.

use std::net::TcpStream;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A TLS client stream over TCP.
#[allow(dead_code)]
pub type ClientStream = rustls::StreamOwned<ClientConnection, TcpStream>;
/// A TLS server stream over TCP.
#[allow(dead_code)]
pub type ServerStream = rustls::StreamOwned<ServerConnection, TcpStream>;

/// A stream over TCP, plain or TLS.
#[allow(dead_code)]
pub trait Tcp {
    /// The socket: timeouts and shutdowns are the socket's.
    fn tcp(&self) -> &TcpStream;
    /// Ends the TLS session, if any, before the socket closes: a peer that reads to the end
    /// (hixie-75 closes that way) would otherwise see a truncation.
    fn close_notify(&mut self) {}
}

impl Tcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl<C, D> Tcp for rustls::StreamOwned<C, TcpStream>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn close_notify(&mut self) {
        self.conn.send_close_notify();
        // Best effort, within the socket's write timeout: the connection ends either way.
        while self.conn.wants_write() {
            if !matches!(self.conn.write_tls(&mut self.sock), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

// Only ring is compiled in: rustls cannot pick a process default on its own.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN for WebSocket over HTTP/1.1: a server that names it cannot be taken for HTTP/2.
#[allow(dead_code)]
pub const HTTP1: &[&[u8]] = &[b"http/1.1"];

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A client configuration trusting only the certificates in `ca` (PEM), or else the
/// platform's roots, offering the ALPN protocols `alpn` in order of preference.
#[allow(dead_code)]
pub fn client_config(ca: Option<&str>, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in certs(path)? {
                roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                eprintln!("tls: platform roots: {e}");
            }
            roots.add_parsable_certificates(found.certs);
            // An empty store still verifies: every server is then refused as untrusted, which
            // is the truth.
            if roots.is_empty() {
                eprintln!("tls: no platform root certificates found");
            }
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A server configuration from a PEM certificate chain (the server's first) and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1), choosing among the ALPN protocols `alpn`.
#[allow(dead_code)]
pub fn server_config(cert: &str, key: &str, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, String> {
    let chain = certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("{key}: no PEM private key in the file")
        }
        e => format!("{key}: {e}"),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("{cert} with {key}: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Runs the client's TLS handshake over `tcp`, naming `host` (a DNS name or an IP address)
/// for SNI and for the certificate check. The socket's timeouts apply to each read and write.
#[allow(dead_code)]
pub fn connect(
    config: &Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<ClientStream, String> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host}: not a valid TLS server name"))?;
    let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    handshake(rustls::StreamOwned::new(conn, tcp))
}

/// Runs the server's TLS handshake over `tcp`; the socket's timeouts apply.
#[allow(dead_code)]
pub fn accept(config: &Arc<ServerConfig>, tcp: TcpStream) -> Result<ServerStream, String> {
    let conn = ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
    handshake(rustls::StreamOwned::new(conn, tcp))
}

/// How long the whole TLS handshake may take: a peer trickling its handshake a byte at a
/// time is cut off here, not only a silent one (whose read the socket's timeout ends).
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

fn handshake<C, D>(
    mut stream: rustls::StreamOwned<C, TcpStream>,
) -> Result<rustls::StreamOwned<C, TcpStream>, String>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    let started = std::time::Instant::now();
    let timed_out = || Err("TLS handshake timed out".to_string());
    // One read or write at a time (not `complete_io`, which loops until the handshake is
    // done), so that the deadline is checked between them.
    while stream.conn.is_handshaking() {
        if started.elapsed() > HANDSHAKE_LIMIT {
            return timed_out();
        }
        let io = if stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)
        } else {
            stream.conn.read_tls(&mut stream.sock).and_then(|n| {
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                // rustls reports its own errors (a refused certificate, say) as `InvalidData`.
                stream
                    .conn
                    .process_new_packets()
                    .map(|_| n)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        };
        match io {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return timed_out()
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // An alert explaining a refusal goes out before the connection ends.
                let _ = stream.conn.write_tls(&mut stream.sock);
                return Err(format!("TLS handshake failed: {e}"));
            }
        }
    }
    // The handshake's last flight (a client's Finished) may still be queued.
    while stream.conn.wants_write() {
        if let Err(e) = stream.conn.write_tls(&mut stream.sock) {
            return Err(format!("TLS handshake failed: {e}"));
        }
    }
    Ok(stream)
}

/// An echo server's command line: `[ADDR] [--no-deflate] [--cert FILE --key FILE]`.
#[allow(dead_code)]
pub struct ServerArgs {
    /// Where to listen (default `127.0.0.1:9001`).
    pub addr: String,
    /// Whether permessage-deflate is accepted when offered.
    pub deflate: bool,
    /// The TLS configuration, when `--cert` and `--key` were given.
    pub tls: Option<Arc<ServerConfig>>,
}

/// Parses the echo servers' command line; a usage error exits with 2 and a bad certificate or
/// key with 1, naming `program`.
#[allow(dead_code)]
pub fn server_args(program: &str) -> ServerArgs {
    let usage = || -> ! {
        eprintln!("usage: {program} [ADDR] [--no-deflate] [--cert FILE --key FILE]");
        std::process::exit(2);
    };
    let mut args = std::env::args().skip(1);
    let mut deflate = true;
    let mut addr = None;
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-deflate" => deflate = false,
            "--cert" => cert = Some(args.next().unwrap_or_else(|| usage())),
            "--key" => key = Some(args.next().unwrap_or_else(|| usage())),
            _ if addr.is_none() && !arg.starts_with("--") => addr = Some(arg),
            _ => usage(),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => match server_config(&cert, &key, HTTP1) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("{program}: {e}");
                std::process::exit(1);
            }
        },
        (None, None) => None,
        _ => usage(),
    };
    ServerArgs {
        addr: addr.unwrap_or_else(|| "127.0.0.1:9001".into()),
        deflate,
        tls,
    }
}
