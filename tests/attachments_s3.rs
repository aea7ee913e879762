//! Attachments in an S3-compatible bucket (`COTALK_OBJECT_STORE_URL`),
//! against a real S3 implementation: moto's server (`scripts/pytools moto`
//! installs it). Skipped, saying so, when it is not installed.

mod support;

use cotalk::config::{Role, ServeArgs};
use reqwest::Method;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::{serve_args, start_args};
use testkit::TestEnv;

/// `$COTALK_MOTO_SERVER`, else the one `scripts/pytools moto` installs.
fn moto_server() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("COTALK_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let data = std::env::var("COTALK_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".data"));
    let bin = data.join("pytools/bin/moto_server");
    bin.exists().then_some(bin)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len - v.len()).map(|i| (i % 253) as u8));
    v
}

#[tokio::test]
async fn uploads_and_ranged_downloads_through_an_s3_bucket() {
    let Some(bin) = moto_server() else {
        println!("skipped: moto_server is not installed (run scripts/pytools moto)");
        return;
    };
    let port = free_port();
    let _moto = tokio::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Create the bucket once the server answers.
    loop {
        match http.put(format!("{endpoint}/cotalk-test")).send().await {
            Ok(r) if r.status().is_success() => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("moto_server did not come up: {other:?}"),
        }
    }
    // The standard variables object_store reads (this test binary runs
    // only this test, so the process environment is its own).
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        std::env::set_var(k, v);
    }
    let env = TestEnv::new().await;
    let args = ServeArgs {
        object_store_url: Some(format!("s3://cotalk-test/{}", env.namespace)),
        ..serve_args(Role::All)
    };
    let s = start_args(env, args, None).await;
    let a = s.user("s3_a").await;
    let room = s.room(&a, "bucket", &[]).await.room_id;
    // Three multipart parts (5 MiB each but the last).
    let bytes = pdf(12 * 1024 * 1024 + 5);
    let up = s
        .as_user(&a)
        .upload_attachment(room, bytes.clone(), Some("big.pdf"))
        .await
        .expect("upload to the bucket");
    assert_eq!(up.size, bytes.len() as u64);
    let path = format!("{}/v1/attachments/{}", s.base, up.attachment_id);
    let res = http
        .get(&path)
        .bearer_auth(&a.token)
        .header("x-min-position", up.position)
        .header("range", "bytes=5242878-5242885")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        &bytes[5_242_878..5_242_886]
    );
    let res = http.get(&path).bearer_auth(&a.token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), bytes.len());
    // A refused upload leaves the bucket as it was and answers as locally.
    let refused = s
        .call(Method::POST, &format!("/v1/rooms/{room}/attachments"))
        .auth(&a)
        .raw_body(b"<html><script>x</script></html>".to_vec())
        .send()
        .await;
    refused.expect(415, Some("unsupported_media_type"));
}
