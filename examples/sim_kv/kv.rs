//! A replicated key-value service on three simulated hosts, and the scenario that partitions
//! its leader away (shared by `examples/sim_kv` and `tests/simulation_protocols.rs`).
//!
//! The replicas follow Raft's rules, cut to the bone: fixed membership (`kv1`..`kv3`), terms,
//! one vote per term for a candidate whose log is at least as up to date, a leader that sends
//! its log (and heartbeats) to each follower over one TCP connection, and a write acknowledged
//! only once a majority stored it in the leader's term. A read is served by the leader after a
//! no-op entry of its own commits (so a deposed leader cannot answer). Clients know all three
//! replicas, follow redirects, and fail over when an operation times out.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use synack::sim::LinkConfig;
use synack::simulation::{Host, SimError, Simulation};
use synack::tokio_net::{TcpListener, TcpStream};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};

pub const REPLICAS: [&str; 3] = ["kv1", "kv2", "kv3"];
const CLIENTS: usize = 2;
const OPS: usize = 100;
const HEARTBEAT: Duration = Duration::from_millis(100);
const RPC_TIMEOUT: Duration = Duration::from_millis(500);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
const PARTITION_AT: Duration = Duration::from_secs(3);
/// How long the old leader stays cut off once the others elected a new one.
const PARTITION_AFTER: Duration = Duration::from_secs(3);

/// A log entry: term, key, value. An empty key is a no-op (a new leader's first entry, or a
/// read's barrier).
#[derive(Clone, Debug, PartialEq)]
struct Entry(u64, String, String);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

struct Node {
    me: usize,
    seed: u64,
    term: u64,
    voted_for: Option<usize>,
    role: Role,
    leader: Option<usize>,
    log: Vec<Entry>,
    commit: usize,
    heard: Instant,
    votes: usize,
    matched: [usize; 3],
    changed: watch::Sender<()>,
}

impl Node {
    #[rustfmt::skip]
    fn new(me: usize, seed: u64) -> Node {
        let (role, heard, changed) = (Role::Follower, Instant::now(), watch::channel(()).0);
        let (term, voted_for, leader, log, commit, votes) = (0, None, None, vec![], 0, 0);
        Node { me, seed, term, voted_for, role, leader, log, commit, heard, votes, matched: [0; 3], changed }
    }
    fn is(&self, term: u64, role: Role) -> bool {
        (self.term, self.role) == (term, role)
    }
    fn bump(&self) {
        self.changed.send_replace(());
    }
    fn last(&self) -> (u64, usize) {
        (self.log.last().map_or(0, |e| e.0), self.log.len())
    }
    fn value(&self, key: &str) -> Option<&str> {
        let committed = self.log.get(..self.commit).unwrap_or_default();
        committed
            .iter()
            .rev()
            .find(|e| e.1 == key)
            .map(|e| e.2.as_str())
    }
    /// 1–2 s, different for each replica and term, so split votes resolve.
    fn election_timeout(&self) -> Duration {
        let mut x = self.seed ^ ((self.me as u64) << 32) ^ self.term.wrapping_mul(0x9E37_79B9);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Duration::from_millis(1000 + (x ^ (x >> 31)) % 1000)
    }
    /// A message carried `term`: a newer one makes this replica a follower in it.
    fn observe(&mut self, term: u64) {
        if term > self.term {
            if self.role == Role::Leader {
                self.heard = Instant::now(); // a deposed leader waits for the new one
            }
            (self.term, self.voted_for, self.role) = (term, None, Role::Follower);
            self.leader = None;
            self.bump();
        }
    }
    fn on_vote(&mut self, term: u64, candidate: usize, last: (u64, usize)) -> bool {
        self.observe(term);
        let free = self.voted_for.is_none_or(|v| v == candidate);
        let grant = term == self.term && free && last >= self.last();
        if grant {
            (self.voted_for, self.heard) = (Some(candidate), Instant::now());
        }
        grant
    }
    /// Raft's AppendEntries: `(true, log length)`, or `(false, a length both logs share)`.
    fn on_append(&mut self, m: &[u64], entries: Vec<Entry>) -> (bool, usize) {
        let &[term, leader, prev_len, prev_term, commit] = m else {
            return (false, self.commit);
        };
        let (prev_len, commit) = (prev_len as usize, commit as usize);
        self.observe(term);
        if term < self.term {
            return (false, self.commit);
        }
        (self.role, self.leader, self.heard) =
            (Role::Follower, Some(leader as usize), Instant::now());
        if prev_len > self.log.len() || (prev_len > 0 && self.log[prev_len - 1].0 != prev_term) {
            // Whatever this replica committed, every later leader holds too.
            return (false, self.commit);
        }
        let end = prev_len + entries.len();
        for (at, e) in (prev_len..).zip(entries) {
            match self.log.get(at) {
                Some(old) if old.0 == e.0 => {}
                Some(_) => {
                    assert!(at >= self.commit, "{} loses a committed entry", self.me);
                    self.log.truncate(at);
                    self.log.push(e);
                }
                None => self.log.push(e),
            }
        }
        self.commit = self.commit.max(commit.min(end));
        self.bump();
        (true, end)
    }
    /// A leader commits what a majority stored, once an entry of its own term is among it.
    fn advance_commit(&mut self) {
        let mut m = self.matched;
        m[self.me] = self.log.len();
        m.sort_unstable();
        if m[1] > self.commit && self.log.get(m[1] - 1).is_some_and(|e| e.0 == self.term) {
            self.commit = m[1];
            self.bump();
        }
    }
}

/// What the scenario watches: every replica, the writes acknowledged, the clients' troubles.
#[derive(Default)]
struct World {
    nodes: Vec<Rc<RefCell<Node>>>,
    leaders: RefCell<BTreeMap<u64, usize>>,
    acked: RefCell<BTreeMap<String, String>>,
    timeouts: Cell<u32>,
    failovers: Cell<u32>,
    clients_done: Cell<usize>,
}

impl World {
    fn leader(&self) -> Option<usize> {
        let nodes = self.nodes.iter().map(|n| n.borrow());
        let leaders = nodes.filter(|n| n.role == Role::Leader);
        leaders.max_by_key(|n| n.term).map(|n| n.me)
    }
}

/// One request-reply connection to a replica, opened again after any failure.
struct Link {
    host: Host,
    to: usize,
    conn: Option<BufReader<TcpStream>>,
}

impl Link {
    fn new(host: &Host, to: usize) -> Link {
        let (host, conn) = (host.clone(), None);
        Link { host, to, conn }
    }
    async fn call(&mut self, msg: &str, limit: Duration) -> io::Result<String> {
        let reply = timeout(limit, self.exchange(msg)).await;
        let reply = reply.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
        if reply.is_err() {
            self.conn = None;
        }
        reply
    }
    async fn exchange(&mut self, msg: &str) -> io::Result<String> {
        if self.conn.is_none() {
            let addr = format!("{}:7000", REPLICAS[self.to]);
            let stream = TcpStream::connect(self.host.handle(), addr.as_str()).await?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        conn.get_mut().write_all(msg.as_bytes()).await?;
        let mut line = String::new();
        match conn.read_line(&mut line).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(line),
        }
    }
}

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// A replica's program, and the tasks it spawns, each with its host and the world.
#[derive(Clone)]
struct Replica {
    host: Host,
    w: Rc<World>,
    me: usize,
}

impl Replica {
    fn node(&self) -> &RefCell<Node> {
        &self.w.nodes[self.me]
    }

    async fn serve(self) -> io::Result<()> {
        self.node().borrow_mut().heard = Instant::now();
        self.host.spawn(self.clone().elections());
        let listener = TcpListener::bind(self.host.handle(), "0.0.0.0:7000").await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let r = self.clone();
            self.host.spawn(async move {
                let mut conn = BufReader::new(stream);
                let mut line = String::new();
                while conn.read_line(&mut line).await? > 0 {
                    let reply = r.answer(&line).await;
                    conn.get_mut().write_all(reply.as_bytes()).await?;
                    line.clear();
                }
                Ok(())
            });
        }
    }

    /// One request, one reply line: `VOTE` and `APPEND` from replicas, `PUT` and `GET`.
    async fn answer(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let n = numbers(line);
        let redirect = |l: Option<usize>| match l {
            Some(l) => format!("REDIRECT {l}\n"),
            None => "REDIRECT none\n".into(),
        };
        match (words.first().copied(), n.as_slice()) {
            (Some("VOTE"), &[term, cand, last_term, last_len]) => {
                let mut node = self.node().borrow_mut();
                let granted = node.on_vote(term, cand as usize, (last_term, last_len as usize));
                format!("VOTED {} {}\n", node.term, u8::from(granted))
            }
            (Some("APPEND"), m) => {
                let entries = words.iter().skip(6).filter_map(|e| {
                    let mut parts = e.splitn(3, ',');
                    let term = parts.next()?.parse().ok()?;
                    Some(Entry(term, parts.next()?.into(), parts.next()?.into()))
                });
                let mut node = self.node().borrow_mut();
                let (ok, len) = node.on_append(m, entries.collect());
                format!("APPENDED {} {} {len}\n", node.term, u8::from(ok))
            }
            (Some("PUT"), _) if words.len() == 3 => match self.commit(words[1], words[2]).await {
                Ok(()) => "OK\n".into(),
                Err(leader) => redirect(leader),
            },
            (Some("GET"), _) if words.len() == 2 => match self.commit("", "").await {
                Ok(()) => match self.node().borrow().value(words[1]) {
                    Some(v) => format!("VALUE {v}\n"),
                    None => "NONE\n".into(),
                },
                Err(leader) => redirect(leader),
            },
            _ => "ERR\n".into(),
        }
    }

    /// Appends an entry if this replica leads, and waits until a majority stored it; otherwise
    /// (or once deposed) the replica it believes leads.
    async fn commit(&self, key: &str, value: &str) -> Result<(), Option<usize>> {
        let mut changed = self.node().borrow().changed.subscribe();
        let (index, term) = {
            let mut n = self.node().borrow_mut();
            if n.role != Role::Leader {
                return Err(n.leader);
            }
            let term = n.term;
            n.log.push(Entry(term, key.into(), value.into()));
            n.bump();
            (n.log.len(), term)
        };
        loop {
            {
                let n = self.node().borrow();
                if n.term != term {
                    return Err(n.leader);
                }
                if n.commit >= index {
                    return Ok(());
                }
            }
            changed.changed().await.map_err(|_| None)?;
        }
    }

    async fn elections(self) -> io::Result<()> {
        loop {
            let (leading, deadline) = {
                let n = self.node().borrow();
                (n.role == Role::Leader, n.heard + n.election_timeout())
            };
            if leading {
                sleep(HEARTBEAT).await;
                continue;
            }
            sleep_until(deadline).await;
            let mut n = self.node().borrow_mut();
            if n.role == Role::Leader || n.heard + n.election_timeout() > Instant::now() {
                continue;
            }
            (n.term, n.role, n.voted_for, n.leader) =
                (n.term + 1, Role::Candidate, Some(self.me), None);
            (n.votes, n.heard) = (1, Instant::now());
            for peer in (0..3).filter(|&p| p != self.me) {
                self.host
                    .spawn(self.clone().ask_vote(peer, n.term, n.last()));
            }
        }
    }

    async fn ask_vote(
        self,
        peer: usize,
        term: u64,
        (last_term, len): (u64, usize),
    ) -> io::Result<()> {
        let msg = format!("VOTE {term} {} {last_term} {len}\n", self.me);
        let mut link = Link::new(&self.host, peer);
        // Asks again after a timeout (a lost SYN costs a second) while the election lasts.
        let reply = loop {
            match link.call(&msg, RPC_TIMEOUT).await {
                Ok(reply) => break numbers(&reply),
                Err(_) if self.node().borrow().is(term, Role::Candidate) => {}
                Err(e) => return Err(e),
            }
        };
        let mut n = self.node().borrow_mut();
        n.observe(reply.first().copied().unwrap_or(0));
        if !n.is(term, Role::Candidate) || reply.get(1) != Some(&1) {
            return Ok(());
        }
        n.votes += 1;
        if n.votes == 2 {
            if let Some(other) = self.w.leaders.borrow_mut().insert(term, self.me) {
                panic!("two leaders in term {term}: {other} and {}", self.me);
            }
            (n.role, n.leader, n.matched) = (Role::Leader, Some(self.me), [0; 3]);
            n.log.push(Entry(term, String::new(), String::new()));
            n.bump();
            for p in (0..3).filter(|&p| p != self.me) {
                self.host.spawn(self.clone().replicate(p, term));
            }
        }
        Ok(())
    }

    /// The leader's side of one follower, for one term: entries from `next` on, or a heartbeat.
    async fn replicate(self, peer: usize, term: u64) -> io::Result<()> {
        let mut link = Link::new(&self.host, peer);
        let mut changed = self.node().borrow().changed.subscribe();
        let mut next = self.node().borrow().log.len();
        loop {
            let msg = {
                let n = self.node().borrow();
                if !n.is(term, Role::Leader) {
                    return Ok(());
                }
                let prev_term = n.log.get(next.wrapping_sub(1)).map_or(0, |e| e.0);
                let entries = n.log[next..].iter().take(64);
                let entries: String = entries
                    .map(|e| format!(" {},{},{}", e.0, e.1, e.2))
                    .collect();
                format!(
                    "APPEND {term} {} {next} {prev_term} {}{entries}\n",
                    self.me, n.commit
                )
            };
            // A timeout or a broken connection: the link connects again on the next round.
            if let Ok(reply) = link.call(&msg, RPC_TIMEOUT).await
                && let &[their_term, ok, len] = numbers(&reply).as_slice()
            {
                let mut n = self.node().borrow_mut();
                n.observe(their_term);
                next = len as usize;
                if ok == 1 && n.term == term {
                    n.matched[peer] = next;
                    n.advance_commit();
                }
                if next < n.log.len() {
                    continue;
                }
            }
            tokio::select! {
                biased;
                _ = changed.changed() => {}
                () = sleep(HEARTBEAT) => {}
            }
        }
    }
}

/// Writes `OPS` keys, each acknowledged and then read back, through whichever replica leads.
async fn client(host: Host, w: Rc<World>, c: usize, seed: u64) -> io::Result<()> {
    let mut links: Vec<Link> = (0..3).map(|r| Link::new(&host, r)).collect();
    let mut to = 0;
    for i in 0..OPS {
        let (key, value) = (format!("c{c}k{i}"), format!("v{i}s{seed}"));
        let reply = request(&mut links, &mut to, &format!("PUT {key} {value}\n"), &w).await;
        if reply != "OK\n" {
            return Err(io::Error::other(format!("PUT {key}: {reply:?}")));
        }
        w.acked.borrow_mut().insert(key.clone(), value.clone());
        let reply = request(&mut links, &mut to, &format!("GET {key}\n"), &w).await;
        if reply != format!("VALUE {value}\n") {
            return Err(io::Error::other(format!(
                "GET {key} after PUT {value}: {reply:?}"
            )));
        }
        sleep(Duration::from_millis(50)).await;
    }
    w.clients_done.set(w.clients_done.get() + 1);
    Ok(())
}

/// Sends `msg` to replica `to` until one answers it: a redirect is followed, a timeout or an
/// error moves on to the next replica.
async fn request(links: &mut [Link], to: &mut usize, msg: &str, w: &World) -> String {
    loop {
        match links[*to].call(msg, CLIENT_TIMEOUT).await {
            Ok(reply) if reply.starts_with("REDIRECT") => match numbers(&reply).first() {
                Some(&l) => *to = l as usize % 3,
                _ => {
                    *to = (*to + 1) % 3; // no leader known yet
                    sleep(Duration::from_millis(50)).await;
                }
            },
            Ok(reply) => return reply,
            Err(e) => {
                let timeouts = u32::from(e.kind() == io::ErrorKind::TimedOut);
                w.timeouts.set(w.timeouts.get() + timeouts);
                w.failovers.set(w.failovers.get() + 1);
                *to = (*to + 1) % 3;
            }
        }
    }
}

/// Partitions the leader from both followers until another one leads, heals, waits for the
/// clients and for the replicas to agree, then checks every acknowledged write.
async fn scenario(host: Host, w: Rc<World>, out: Rc<Cell<Summary>>) -> io::Result<()> {
    let ctl = host.control();
    sleep(PARTITION_AT).await;
    until("leader", 10, || w.leader().is_some()).await?;
    let old = w.leader().ok_or(io::ErrorKind::NotFound)?;
    let old_term = w.nodes[old].borrow().term;
    let others: Vec<usize> = (0..3).filter(|&p| p != old).collect();
    for &p in &others {
        ctl.partition(REPLICAS[old], REPLICAS[p]);
    }
    until("new leader", 30, || w.leader().is_some_and(|l| l != old)).await?;
    let new = w.leader().ok_or(io::ErrorKind::NotFound)?;
    // The clients carry on with the new leader while the old one is still cut off.
    sleep(PARTITION_AFTER).await;
    for &p in &others {
        ctl.repair(REPLICAS[old], REPLICAS[p]);
    }
    let done = || w.clients_done.get() == CLIENTS && converged(&w);
    until("end of the clients and agreement of the replicas", 60, done).await?;
    let l = w.nodes[w.leader().ok_or(io::ErrorKind::NotFound)?].borrow();
    for (key, value) in w.acked.borrow().iter() {
        if l.value(key) != Some(value) {
            let what = format!(
                "acknowledged {key}={value}, the leader has {:?}",
                l.value(key)
            );
            return Err(io::Error::other(what));
        }
    }
    if w.nodes[old].borrow().term == old_term {
        let what = format!(
            "the old leader {} never learned of the new term",
            REPLICAS[old]
        );
        return Err(io::Error::other(what));
    }
    let (old_leader, new_leader, final_term) = (REPLICAS[old], REPLICAS[new], l.term);
    out.set(Summary {
        old_leader,
        new_leader,
        final_term,
        ..Summary::default()
    });
    Ok(())
}

/// Waits until `cond` holds, for at most `secs` seconds.
async fn until(what: &str, secs: u64, cond: impl Fn() -> bool) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("no {what} after {secs} s")));
        }
        sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Whether every replica committed what the leader did, with the same entries.
fn converged(w: &World) -> bool {
    let Some(l) = w.leader().map(|l| w.nodes[l].borrow()) else {
        return false;
    };
    let same = |n: &Node| n.commit == l.commit && n.log[..n.commit] == l.log[..l.commit];
    w.nodes.iter().all(|n| same(&n.borrow()))
}

/// How a scenario went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub seed: u64,
    pub elapsed: Duration,
    pub lost: u64,
    pub acknowledged: usize,
    pub timeouts: u32,
    pub failovers: u32,
    pub old_leader: &'static str,
    pub new_leader: &'static str,
    pub final_term: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        write!(
            f,
            "seed {}: {} writes acknowledged, ",
            s.seed, s.acknowledged
        )?;
        write!(f, "all on the leader (term {}); ", s.final_term)?;
        write!(
            f,
            "{} partitioned away, {} elected; ",
            s.old_leader, s.new_leader
        )?;
        write!(
            f,
            "{:.1} s virtual, {} packets lost, ",
            s.elapsed.as_secs_f64(),
            s.lost
        )?;
        write!(
            f,
            "{} client operations timed out, {} failovers",
            s.timeouts, s.failovers
        )
    }
}

/// Runs the scenario; the error is the simulation's, with the seed and how to replay it.
pub fn run(seed: u64) -> Result<Summary, SimError> {
    let mut sim = Simulation::new(seed);
    let seed = sim.seed();
    let ms = Duration::from_millis;
    let link = LinkConfig::default()
        .with_delay(ms(5))
        .with_jitter(ms(5))
        .with_loss(0.01);
    sim.link_all(link)
        .time_limit(Duration::from_secs(120))
        .replay_command("cargo run --release --example sim_kv -- --seed {seed}");
    let nodes = (0..3).map(|me| Rc::new(RefCell::new(Node::new(me, seed))));
    let w = Rc::new(World {
        nodes: nodes.collect(),
        ..World::default()
    });
    for (me, name) in REPLICAS.iter().enumerate() {
        let w = w.clone();
        sim.host(name, move |host| {
            Replica {
                host,
                w: w.clone(),
                me,
            }
            .serve()
        });
    }
    for c in 0..CLIENTS {
        let w = w.clone();
        sim.client(&format!("client{c}"), move |host| client(host, w, c, seed));
    }
    let out = Rc::new(Cell::new(Summary::default()));
    let (w2, out2) = (w.clone(), out.clone());
    sim.client("chaos", move |host| scenario(host, w2, out2));
    let report = sim.run()?;
    let (acknowledged, timeouts) = (w.acked.borrow().len(), w.timeouts.get());
    let (elapsed, lost, failovers) = (report.elapsed, report.net.lost, w.failovers.get());
    let out = out.get();
    Ok(Summary {
        seed,
        elapsed,
        lost,
        acknowledged,
        timeouts,
        failovers,
        ..out
    })
}
