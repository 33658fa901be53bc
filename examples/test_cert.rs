//! Writes a throwaway certificate authority and a server certificate it signed, for the TLS
//! and HTTP/2 checks: nothing secret is ever committed, every run makes new keys.
//!
//! `cargo run --example test_cert -- DIR` writes `DIR/ca.pem` (the authority's certificate, for
//! a client's `--ca`), `DIR/cert.pem` and `DIR/key.pem` (the server's certificate chain and
//! PKCS#8 key, for a server's `--cert` and `--key`). The server certificate names `localhost`
//! and `127.0.0.1` and is valid for 30 days from now.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: test_cert DIR");
        std::process::exit(2);
    };
    if let Err(e) = write(&dir) {
        eprintln!("test_cert: {e}");
        std::process::exit(1);
    }
}

fn write(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemTime::now();
    let until = now + Duration::from_secs(30 * 24 * 3600);

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "wsmachine test authority");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now.into();
    ca.not_after = until.into();
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = now.into();
    server.not_after = until.into();
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(dir.join("cert.pem"), server_cert.pem())?;
    std::fs::write(dir.join("key.pem"), server_key.serialize_pem())?;
    println!("wrote {}/ca.pem, cert.pem, key.pem", dir.display());
    Ok(())
}
