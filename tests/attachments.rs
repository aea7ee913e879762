//! Attachments over HTTP: upload (sniffing, limits, cleaning), download
//! (members only, ETag, ranges), the orphan sweeper, and the memory an
//! upload costs the server.

mod support;

use cotalk::config::{Role, ServeArgs};
use reqwest::Method;
use std::time::{Duration, Instant};
use support::{serve_args, start, start_args, Server, User};
use testkit::TestEnv;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

/// A file `infer` takes for a PDF: the magic, then `len` bytes in all.
fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len - v.len()).map(|i| (i % 251) as u8));
    v
}

async fn upload(
    s: &Server,
    user: &User,
    room: domain::RoomId,
    bytes: Vec<u8>,
    name: Option<&str>,
) -> support::Answer {
    let mut call = s
        .call(Method::POST, &format!("/v1/rooms/{room}/attachments"))
        .auth(user)
        .header("content-type", "application/octet-stream")
        .raw_body(bytes);
    if let Some(name) = name {
        call = call.header("x-file-name", name);
    }
    call.send().await
}

async fn download(
    s: &Server,
    user: &User,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(&user.token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("download")
}

#[tokio::test]
async fn upload_then_download_by_members_only() {
    let s = start().await;
    let (a, b, c) = (
        s.user("att_a").await,
        s.user("att_b").await,
        s.user("att_c").await,
    );
    let room = s.room(&a, "files", &[&b]).await.room_id;
    let bytes = pdf(70_000);
    let up = upload(
        &s,
        &a,
        room,
        bytes.clone(),
        Some("%EB%B3%B4%EA%B3%A0%EC%84%9C%20v2.pdf"),
    )
    .await;
    up.expect(201, None);
    let body = &up.body;
    assert_eq!(body["content_type"], "application/pdf");
    assert_eq!(body["size"], 70_000);
    assert_eq!(body["name"], "보고서 v2.pdf");
    assert!(body["width"].is_null() && body["height"].is_null());
    let sha = body["sha256"].as_str().unwrap().to_owned();
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&bytes)));
    let id = body["attachment_id"].as_str().unwrap().to_owned();
    let position = up.position();
    let path = format!("/v1/attachments/{id}");
    let pos = position.to_string();
    let res = download(&s, &b, &path, &[("x-min-position", &pos)]).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-type"], "application/pdf");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[..]);
    // If-None-Match
    let etag = format!("\"{sha}\"");
    let res = download(&s, &b, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), 304);
    // Ranges
    let res = download(&s, &b, &path, &[("range", "bytes=10-19")]).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 10-19/70000");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let res = download(&s, &b, &path, &[("range", "bytes=-5")]).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[69_995..]);
    let res = download(&s, &b, &path, &[("range", "bytes=70000-")]).await;
    assert_eq!(res.status(), 416);
    assert_eq!(res.headers()["content-range"], "bytes */70000");
    // Not an image: no thumbnail.
    let res = download(&s, &b, &format!("{path}?thumbnail=1"), &[]).await;
    assert_eq!(res.status(), 404);
    // Not a member, unknown id, not an id: one answer.
    for (who, p) in [
        (&c, path.clone()),
        (&a, format!("/v1/attachments/{}", uuid::Uuid::now_v7())),
        (&a, "/v1/attachments/nope".to_owned()),
    ] {
        let res = download(&s, who, &p, &[]).await;
        assert_eq!(res.status(), 404);
        let problem: serde_json::Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "attachment_not_found");
    }
    // A member who left loses access.
    let left = s.as_user(&b).remove_member(room, b.id).await.unwrap();
    let pos = left.position.to_string();
    let res = download(&s, &b, &path, &[("x-min-position", &pos)]).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn refused_uploads() {
    let s = start().await;
    let (a, c) = (s.user("ref_a").await, s.user("ref_c").await);
    let room = s.room(&a, "refusals", &[]).await.room_id;
    let refused: [&[u8]; 5] = [
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>x</script></svg>",
        b"#!/bin/sh\necho hi\n",
        b"plain words, no magic number",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00",
    ];
    for bytes in refused {
        // Whatever the client claims.
        let up = s
            .call(Method::POST, &format!("/v1/rooms/{room}/attachments"))
            .auth(&a)
            .header("content-type", "image/png")
            .raw_body(bytes.to_vec())
            .send()
            .await;
        up.expect(415, Some("unsupported_media_type"));
    }
    upload(&s, &a, room, Vec::new(), None)
        .await
        .expect(422, Some("empty_attachment"));
    upload(&s, &a, room, pdf(100), Some("%FF%FE"))
        .await
        .expect(422, Some("invalid_file_name"));
    upload(&s, &a, room, pdf(100), Some("a%0Ab"))
        .await
        .expect(422, Some("invalid_file_name"));
    upload(&s, &c, room, pdf(100), None)
        .await
        .expect(404, Some("room_not_found"));
    let broken_jpeg = [
        0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 2, 3,
    ];
    upload(&s, &a, room, broken_jpeg.to_vec(), None)
        .await
        .expect(422, Some("invalid_image"));
    // The path names the file's directory part away.
    let up = upload(&s, &a, room, pdf(100), Some("..%2F..%2Fetc%2Fpasswd.pdf")).await;
    up.expect(201, None);
    assert_eq!(up.body["name"], "passwd.pdf");
}

/// A JPEG with an APP1 EXIF segment carrying GPS tags (latitude 37°33'N),
/// spliced in after SOI by hand.
fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    // TIFF header (little endian), IFD0 with one entry: GPSInfo pointer.
    let mut tiff: Vec<u8> = b"II*\x00\x08\x00\x00\x00".to_vec();
    tiff.extend(1u16.to_le_bytes());
    tiff.extend(0x8825u16.to_le_bytes()); // GPSInfo
    tiff.extend(4u16.to_le_bytes()); // LONG
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(26u32.to_le_bytes()); // GPS IFD offset
    tiff.extend(0u32.to_le_bytes()); // next IFD
                                     // GPS IFD at 26: LatitudeRef 'N', Latitude 37/1 33/1 0/1.
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(1u16.to_le_bytes()); // GPSLatitudeRef
    tiff.extend(2u16.to_le_bytes()); // ASCII
    tiff.extend(2u32.to_le_bytes());
    tiff.extend(*b"N\x00\x00\x00");
    tiff.extend(2u16.to_le_bytes()); // GPSLatitude
    tiff.extend(5u16.to_le_bytes()); // RATIONAL
    tiff.extend(3u32.to_le_bytes());
    tiff.extend(56u32.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 56);
    for (n, d) in [(37u32, 1u32), (33, 1), (0, 1)] {
        tiff.extend(n.to_le_bytes());
        tiff.extend(d.to_le_bytes());
    }
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

#[tokio::test]
async fn images_lose_their_exif_and_gps_and_get_a_thumbnail() {
    let s = start().await;
    let a = s.user("img_a").await;
    let room = s.room(&a, "photos", &[]).await.room_id;
    let photo = jpeg_with_gps(800, 600);
    assert!(
        photo.windows(4).any(|w| w == b"Exif"),
        "the test photo carries EXIF"
    );
    let up = upload(&s, &a, room, photo, Some("gps.jpg")).await;
    up.expect(201, None);
    assert_eq!(up.body["content_type"], "image/jpeg");
    assert_eq!(
        (up.body["width"].as_u64(), up.body["height"].as_u64()),
        (Some(800), Some(600))
    );
    let id = up.body["attachment_id"].as_str().unwrap().to_owned();
    let pos = up.position().to_string();
    let res = download(
        &s,
        &a,
        &format!("/v1/attachments/{id}"),
        &[("x-min-position", &pos)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(res.headers().get("content-disposition").is_none());
    let stored = res.bytes().await.unwrap();
    assert_eq!(stored.len() as u64, up.body["size"].as_u64().unwrap());
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "no EXIF survives");
    assert!(
        !stored.windows(2).any(|w| w == [0xFF, 0xE1]),
        "no APP1 segment survives"
    );
    let decoded = image::load_from_memory(&stored).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (800, 600));
    let res = download(&s, &a, &format!("/v1/attachments/{id}?thumbnail=1"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["etag"],
        format!("\"{}.thumb\"", up.body["sha256"].as_str().unwrap()).as_str()
    );
    let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 240));
}

/// Send a request head (and, for `chunks`, a chunked body until the server
/// answers) over a raw connection; the status and how many body bytes went out.
async fn raw_upload(
    s: &Server,
    user: &User,
    room: domain::RoomId,
    length: Option<u64>,
    chunks: usize,
) -> (u16, usize) {
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let framing = match length {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_owned(),
    };
    let head = format!(
        "POST /v1/rooms/{room}/attachments HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n{framing}\r\n",
        user.token
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        let mut chunk = format!("{:x}\r\n", MIB).into_bytes();
        chunk.extend(pdf(MIB));
        chunk.extend(b"\r\n");
        for _ in 0..chunks {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            sent += MIB;
        }
        sent
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let status = std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap();
    drop(rd);
    let sent = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(n > 12);
    (status, sent)
}

#[tokio::test]
async fn over_the_limit_is_413_without_reading_the_body() {
    let s = start().await;
    let a = s.user("big_a").await;
    let room = s.room(&a, "big", &[]).await.room_id;
    // 26 MiB declared: answered from the head, no body byte sent.
    let (status, sent) = raw_upload(&s, &a, room, Some(26 * MIB as u64), 0).await;
    assert_eq!((status, sent), (413, 0));
    // Chunked (no length): cut once the limit is passed.
    let (status, sent) = raw_upload(&s, &a, room, None, 40).await;
    assert_eq!(status, 413);
    println!(
        "chunked upload cut after about {} MiB were written",
        sent / MIB
    );
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The server runs in this test's process: its RSS growth while a 25 MiB
/// upload streams through (sampled every few ms) is the upload's cost.
#[tokio::test]
async fn a_25_mib_upload_keeps_rss_growth_small() {
    let s = start().await;
    let a = s.user("rss_a").await;
    let room = s.room(&a, "rss", &[]).await.room_id;
    // Warm up the paths once (allocator arenas, lazily built state).
    upload(&s, &a, room, pdf(2 * MIB), None)
        .await
        .expect(201, None);
    let base = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(base));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let started = Instant::now();
    // 25 chunks of 1 MiB: the client never holds the file either.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/rooms/{room}/attachments HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        a.token,
        25 * MIB
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = pdf(MIB);
    for _ in 0..25 {
        conn.write_all(&chunk).await.unwrap();
    }
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(base);
    println!(
        "25 MiB upload: RSS growth {:.1} MiB (peak over a {} KiB baseline), {:?}",
        growth as f64 / 1024.0,
        base,
        started.elapsed()
    );
    // Buffering the file would cost 25 MiB at least.
    assert!(growth < 20 * 1024, "RSS grew {growth} KiB");
}

#[tokio::test]
async fn the_sweeper_discards_orphans_and_deletes_their_bytes() {
    let args = ServeArgs {
        orphan_upload_secs: 1,
        orphan_sweep_interval_secs: 1,
        ..serve_args(Role::All)
    };
    let s = start_args(TestEnv::new().await, args, None).await;
    let a = s.user("sweep_a").await;
    let room = s.room(&a, "sweep", &[]).await.room_id;
    let up = s
        .as_user(&a)
        .upload_attachment(room, pdf(4096), Some("orphan.pdf"))
        .await
        .unwrap();
    let file = s
        .config
        .data_dir
        .join("attachments")
        .join(up.attachment_id.to_string());
    assert!(file.exists(), "{file:?} stored");
    let deadline = Instant::now() + Duration::from_secs(30);
    while file.exists() {
        assert!(Instant::now() < deadline, "the orphan was never swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = format!("/v1/attachments/{}", up.attachment_id);
    let res = download(&s, &a, &path, &[]).await;
    assert_eq!(res.status(), 404);
    // The discard is in the log, so a post can no longer send it.
    let pool = sqlx::PgPool::connect(&s.env.database_url).await.unwrap();
    let types: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version")
            .bind(room.0)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        types.iter().any(|t| t.contains("attachment_discarded")),
        "{types:?}"
    );
}
