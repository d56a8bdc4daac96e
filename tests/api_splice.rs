//! The zero-copy faces of the tokio API — `TcpStream::poll_read_with`/`poll_write_with` and
//! `synack::tokio_net::copy_bidirectional` — over two synack runtimes joined by an in-memory
//! device pair, spliced to a tokio duplex pipe whose small buffer makes every other call
//! return `Pending`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::poll_fn;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::Poll;
use synack::net::{ImpairConfig, MemoryDevice};
use synack::runtime::Runtime;
use synack::tokio_net::{TcpListener, TcpStream, copy_bidirectional};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i + salt) * 31 % 251) as u8).collect()
}

/// Host A (with `impair` on its side of the link, both ways) and host B.
fn hosts(impair: Option<ImpairConfig>) -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let mut a = Runtime::builder().address(A);
    if let Some(i) = impair {
        a = a.impair(i);
    }
    (
        a.build(da).unwrap(),
        Runtime::builder().address(B).build(db).unwrap(),
    )
}

/// A's client uploads `up` bytes and half-closes, B splices the connection to a duplex pipe
/// whose far end checks the upload arrived whole and ended (the FIN became a shutdown), then
/// answers with `down` bytes and shuts down; the client reads them to the end. Returns what
/// the splice counted.
async fn splice_round_trip(a: &Runtime, b: &Runtime, up: usize, down: usize) -> (u64, u64) {
    let listener = TcpListener::bind(b, SocketAddr::new(B, 80)).await.unwrap();
    let (near, mut far) = tokio::io::duplex(4096);
    let splice = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut near = near;
        copy_bidirectional(&mut s, &mut near).await
    });
    let upload = pattern(up, 1);
    let download = pattern(down, 2);
    let expect_up = upload.clone();
    let answer = download.clone();
    let far_end = tokio::spawn(async move {
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        assert!(got == expect_up, "the upload differs");
        far.write_all(&answer).await.unwrap();
        far.shutdown().await.unwrap();
    });
    let s = TcpStream::connect(a, SocketAddr::new(B, 80)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&upload).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert!(got == download, "the download differs");
    drop(writer.await.unwrap());
    far_end.await.unwrap();
    splice.await.unwrap().unwrap()
}

#[tokio::test]
async fn copy_bidirectional_moves_both_ways_and_passes_each_half_close_on() {
    let (a, b) = hosts(None);
    let counts = splice_round_trip(&a, &b, 300_000, 700_000).await;
    assert_eq!(counts, (300_000, 700_000));
}

#[tokio::test]
async fn copy_bidirectional_survives_loss_reordering_and_duplicates() {
    let impair = ImpairConfig {
        link: ImpairConfig::default()
            .link
            .with_loss(0.03)
            .with_delay(std::time::Duration::from_millis(2))
            .with_jitter(std::time::Duration::from_millis(1))
            .with_duplicate(0.01),
        seed: 11,
    };
    let (a, b) = hosts(Some(impair));
    let counts = splice_round_trip(&a, &b, 120_000, 90_000).await;
    assert_eq!(counts, (120_000, 90_000));
}

#[tokio::test]
async fn copy_bidirectional_fails_with_the_reset_when_the_peer_aborts() {
    let (a, b) = hosts(None);
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 80)).await.unwrap();
    // The far end never reads: the splice has bytes to move when the RST arrives.
    let (near, _far) = tokio::io::duplex(1024);
    let splice = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut near = near;
        copy_bidirectional(&mut s, &mut near).await
    });
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 80))
        .await
        .unwrap();
    // Less than the send buffer takes at first (twice the initial window, since buffers are
    // autotuned): the far end never reads, so a larger write would never complete.
    s.write_all(&pattern(20_000, 0)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    s.abort().unwrap();
    let err = splice.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn poll_read_with_consumes_only_what_the_callback_takes() {
    let (a, b) = hosts(None);
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 80)).await.unwrap();
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 80))
        .await
        .unwrap();
    let (s, _) = listener.accept().await.unwrap();
    c.write_all(b"hello world").await.unwrap();
    c.shutdown().await.unwrap();
    s.readable().await.unwrap();
    // A callback that is not ready takes nothing.
    let mut calls = 0;
    let r = poll_fn(|cx| {
        Poll::Ready(s.poll_read_with(cx, |_, a, b| {
            calls += 1;
            assert_eq!([a, b].concat(), b"hello world");
            Poll::Pending
        }))
    })
    .await;
    assert!(r.is_pending());
    assert_eq!(calls, 1);
    // Then five bytes, then the rest.
    let take = |n: usize| {
        let s = &s;
        poll_fn(move |cx| {
            s.poll_read_with(cx, |_, a, _| {
                assert!(a.len() >= n);
                Poll::Ready(Ok(n.min(a.len())))
            })
        })
    };
    assert_eq!(take(5).await.unwrap(), 5);
    let mut rest = Vec::new();
    let n = poll_fn(|cx| {
        s.poll_read_with(cx, |_, a, b| {
            rest.extend_from_slice(a);
            rest.extend_from_slice(b);
            Poll::Ready(Ok(a.len() + b.len()))
        })
    })
    .await
    .unwrap();
    assert_eq!((n, &rest[..]), (6, &b" world"[..]));
    // The end of the stream: `Ok(0)` without a call.
    let n = poll_fn(|cx| s.poll_read_with(cx, |_, _, _| unreachable!("end of stream")))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn poll_write_with_sends_what_the_callback_wrote_in_place() {
    let (a, b) = hosts(None);
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 80)).await.unwrap();
    let c = TcpStream::connect(&a, SocketAddr::new(B, 80))
        .await
        .unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    let n = poll_fn(|cx| {
        c.poll_write_with(cx, |_, buf| {
            buf[..4].copy_from_slice(b"ping");
            Poll::Ready(Ok(4))
        })
    })
    .await
    .unwrap();
    assert_eq!(n, 4);
    let mut got = [0u8; 4];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    // A callback's own error comes back as it is, and nothing is sent.
    let err = poll_fn(|cx| {
        c.poll_write_with(cx, |_, _| {
            Poll::Ready(Err(std::io::Error::other("the source failed")))
        })
    })
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "the source failed");
    assert_eq!(c.try_write(b"!").unwrap(), 1);
    let mut one = [0u8; 1];
    s.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b"!");
}
