//! `mpi serve --tls-cert --tls-key [--tls-client-ca]`: HTTPS over HTTP/1.1 and HTTP/2, checked
//! with curl (OpenSSL, not the server's rustls) against certificates made at test time with
//! rcgen; with a client CA, a client without a certificate from it is refused.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

use crate::helpers::{ScratchDir, TestServer};

/// Writes `ca.pem`, `server.pem`/`server.key` (for 127.0.0.1 and localhost) and
/// `client.pem`/`client.key` (a client certificate) into `dir`, all issued by one new CA;
/// also `other-client.pem`/`.key` from another CA.
pub(crate) fn write_certificates(dir: &Path) {
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        (cert, Issuer::new(params, key))
    };
    let (ca_cert, issuer) = ca("MPI test CA");
    let (_, other_issuer) = ca("Someone else's CA");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();

    for (name, by) in [("client", &issuer), ("other-client", &other_issuer)] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "desk-1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, by).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

/// `curl` on `url` with `args`: (exit code, HTTP version and status as curl reports them).
fn curl(dir: &Path, url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .current_dir(dir)
        .args(["-sS", "--max-time", "10", "--cacert", "ca.pem"])
        .args(["-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn serve_speaks_https_over_http1_and_http2_and_can_require_client_certificates() {
    let dir = ScratchDir::new();
    write_certificates(&dir.path);
    let db = "sqlite://tls.db?mode=rwc";
    let server = TestServer::start(
        &dir.path,
        &[
            "--database-url",
            db,
            "--workers",
            "1",
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
        ],
    );
    assert!(
        server
            .wait_for_log("mpi listening on https://")
            .contains("mpi listening on https://")
    );
    let url = format!("https://{}/health", server.addr);
    assert_eq!(curl(&dir.path, &url, &["--http1.1"]), (0, "1.1 200".into()));
    assert_eq!(curl(&dir.path, &url, &["--http2"]), (0, "2 200".into()));
    // Plain HTTP on the TLS port gets no answer; a client that does not trust the CA refuses.
    let plain = format!("http://{}/health", server.addr);
    assert_ne!(curl(&dir.path, &plain, &[]).1, "1.1 200");
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "10", &url])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    drop(server);

    let server = TestServer::start(
        &dir.path,
        &[
            "--database-url",
            db,
            "--workers",
            "1",
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
            "--tls-client-ca",
            "ca.pem",
        ],
    );
    let url = format!("https://{}/health", server.addr);
    let with_cert = ["--cert", "client.pem", "--key", "client.key"];
    assert_eq!(curl(&dir.path, &url, &with_cert), (0, "2 200".into()));
    let (code, _) = curl(&dir.path, &url, &[]);
    assert_ne!(code, 0, "no client certificate was accepted");
    let other = ["--cert", "other-client.pem", "--key", "other-client.key"];
    assert_ne!(
        curl(&dir.path, &url, &other).0,
        0,
        "a foreign CA's client was accepted"
    );
    drop(server);

    // Half a configuration is a usage error at start-up, naming the flags, not a plain server.
    let out = crate::helpers::run_mpi(
        &dir.path,
        &[
            "serve",
            "--database-url",
            db,
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            "server.pem",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
