//! Test support: a real PostgreSQL server for the tests, started by the
//! tests themselves, and a fresh schema per store.
//!
//! - `CHATDESK_PG_URL` set: the tests use that server (a `postgresql://` URL
//!   or `key=value` string of a database the user may create schemas in).
//! - Otherwise the first store of a test binary starts one server for the
//!   whole binary: the binaries are found with `pg_config --bindir` or under
//!   `/usr/lib/postgresql/*/bin` (the newest), `initdb` runs into a temporary
//!   directory and the server listens only on a Unix socket inside it (no
//!   TCP port). Run as root, both run as the `postgres` user (which Debian's
//!   package creates), or `nobody`, since PostgreSQL refuses root. A watcher
//!   process stops the server (`pg_ctl stop -m immediate`) and removes the
//!   directory as soon as the test binary exits, however it exits.
//! - No server to be had: the tests fail, naming Debian's `postgresql`
//!   package, unless `CHATDESK_PG_SKIP=1`, where [`temp_store_or_skip`]
//!   gives `None` and the tests return early.

use crate::{PgOptions, PgStorage};
use chatdesk::backend::{ReadTx, WriteTx};
use chatdesk::{Capabilities, Durability, Result, Storage};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The connection string of the test server, or why there is none.
static SERVER: OnceLock<std::result::Result<Server, String>> = OnceLock::new();

/// A server the tests use: how to reach it, and (when they started it) how
/// to restart it.
#[derive(Debug, Clone)]
struct Server {
    url: String,
    local: Option<LocalServer>,
}

#[derive(Debug, Clone)]
struct LocalServer {
    dir: PathBuf,
    bindir: PathBuf,
    user: Option<String>,
}

/// How to install PostgreSQL, for the failure message.
const INSTALL_HINT: &str = "install Debian's `postgresql` package (apt-get install -y postgresql), \
     or point CHATDESK_PG_URL at a server, or set CHATDESK_PG_SKIP=1 to skip the PostgreSQL tests";

/// Whether the tests are told to skip PostgreSQL.
pub fn skip_requested() -> bool {
    std::env::var("CHATDESK_PG_SKIP").is_ok_and(|v| v == "1")
}

/// The test server's connection string (starting the server on first use).
///
/// # Panics
/// When there is no server to be had and skipping was not requested.
pub fn server_url() -> Option<String> {
    if skip_requested() {
        return None;
    }
    match SERVER.get_or_init(find_or_start) {
        Ok(server) => Some(server.url.clone()),
        Err(e) => panic!("no PostgreSQL server for the tests: {e}; {INSTALL_HINT}"),
    }
}

fn find_or_start() -> std::result::Result<Server, String> {
    if let Ok(url) = std::env::var("CHATDESK_PG_URL")
        && !url.trim().is_empty()
    {
        return Ok(Server { url, local: None });
    }
    let bindir =
        find_bindir().ok_or("the PostgreSQL server binaries (initdb, pg_ctl) were not found")?;
    start_server(&bindir)
}

fn local_server() -> std::result::Result<LocalServer, String> {
    match SERVER.get() {
        Some(Ok(Server {
            local: Some(local), ..
        })) => Ok(local.clone()),
        _ => Err("no server started by the tests".to_owned()),
    }
}

fn server_options(dir: &Path) -> String {
    format!(
        "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off \
         -c full_page_writes=off -c max_connections=200 -c shared_buffers=16MB",
        dir.display()
    )
}

fn pg_ctl_start(local: &LocalServer) -> std::result::Result<(), String> {
    let data = local.dir.join("data");
    let log = local.dir.join("server.log");
    let mut pg_ctl = command_as(
        local.user.as_deref(),
        &local.bindir.join("pg_ctl"),
        &local.dir,
    );
    pg_ctl
        .arg("start")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "-o", &server_options(&local.dir)]);
    run(pg_ctl, "pg_ctl start").map_err(|e| {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\nserver log:\n{log}")
    })
}

/// Kills the test server the way a crash would (`pg_ctl stop -m
/// immediate`: no shutdown checkpoint, recovery on the next start).
///
/// # Errors
/// When the server was not started by the tests, or pg_ctl fails.
pub fn crash_server() -> std::result::Result<(), String> {
    let local = local_server()?;
    let mut pg_ctl = command_as(
        local.user.as_deref(),
        &local.bindir.join("pg_ctl"),
        &local.dir,
    );
    pg_ctl
        .arg("stop")
        .arg("-D")
        .arg(local.dir.join("data"))
        .args(["-m", "immediate", "-w"]);
    run(pg_ctl, "pg_ctl stop -m immediate")
}

/// Starts the test server again after [`crash_server`].
///
/// # Errors
/// When the server was not started by the tests, or pg_ctl fails.
pub fn restart_server() -> std::result::Result<(), String> {
    pg_ctl_start(&local_server()?)
}

/// `pg_config --bindir` if it has `initdb`, else the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return Some(dir);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The unprivileged user to run the server as when we are root.
fn server_user() -> std::result::Result<(String, u32, u32), String> {
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return Ok((user.to_owned(), uid, gid));
        }
    }
    Err("running as root, and neither the `postgres` nor the `nobody` user exists".to_owned())
}

/// A command run as `user` (when given) in `dir`.
fn command_as(user: Option<&str>, program: &Path, dir: &Path) -> Command {
    let mut cmd = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.current_dir(dir);
    cmd
}

fn run(mut cmd: Command, what: &str) -> std::result::Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start_server(bindir: &Path) -> std::result::Result<Server, String> {
    let dir = tempfile::Builder::new()
        .prefix("chatdesk-pg-")
        .tempdir()
        .map_err(|e| format!("creating a temporary directory: {e}"))?
        .keep();
    let user = if is_root() {
        let (name, uid, gid) = server_user()?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("handing {} to {name}: {e}", dir.display()))?;
        Some(name)
    } else {
        None
    };
    let user = user.as_deref();
    let data = dir.join("data");
    // The watcher first: whatever happens next, the directory goes and the
    // server stops when this process exits.
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; \
         {run_as} '{pg_ctl}' stop -D '{data}' -m immediate -w >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        run_as = user.map_or(String::new(), |u| format!("runuser -u {u} --")),
        pg_ctl = bindir.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &watcher])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the server's watcher: {e}"))?;
    let mut initdb = command_as(user, &bindir.join("initdb"), &dir);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "chatdesk",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    ]);
    run(initdb, "initdb")?;
    let local = LocalServer {
        dir: dir.clone(),
        bindir: bindir.to_path_buf(),
        user: user.map(str::to_owned),
    };
    pg_ctl_start(&local)?;
    Ok(Server {
        url: format!("host={} user=chatdesk dbname=postgres", dir.display()),
        local: Some(local),
    })
}

/// A [`PgStorage`] in a schema of its own, dropped with it.
#[derive(Debug)]
pub struct TempPg {
    store: Option<PgStorage>,
    url: String,
    schema: String,
}

impl TempPg {
    /// The store.
    ///
    /// # Panics
    /// Never in practice (the store is there until drop).
    pub fn store(&self) -> &PgStorage {
        match &self.store {
            Some(s) => s,
            None => panic!("the test store was closed"),
        }
    }

    /// The server's connection string.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Damages session `id`'s stored row (an unknown status code, written
    /// by a plain client below chatdesk) so that reads of it fail with
    /// `Corrupt`; its index entries stay. The store stays open.
    ///
    /// # Errors
    /// Connecting or writing failed.
    pub fn damage_session(&self, id: chatdesk::SessionId) -> Result<()> {
        let fail = |e: postgres::Error| {
            chatdesk::Error::Storage(chatdesk::StorageError::new(
                "postgres",
                "damaging a session for a test",
                e,
            ))
        };
        let config = self.url.parse::<postgres::Config>().map_err(fail)?;
        let mut client = config.connect(postgres::NoTls).map_err(fail)?;
        client
            .execute(
                &format!(
                    "UPDATE \"{}\".chat_session SET status = 99 WHERE id = $1",
                    self.schema
                ),
                &[&id.get()],
            )
            .map_err(fail)?;
        Ok(())
    }

    /// Opens another store on the same schema with `options` (its schema is
    /// replaced by this one's).
    ///
    /// # Errors
    /// What [`PgStorage::open`] returns.
    pub fn open_again(&self, options: PgOptions) -> Result<PgStorage> {
        PgStorage::open(
            &self.url,
            PgOptions {
                schema: self.schema.clone(),
                ..options
            },
        )
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            store.close();
        }
        if let Ok(config) = self.url.parse::<postgres::Config>()
            && let Ok(mut client) = config.connect(postgres::NoTls)
        {
            let _ = client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ));
        }
    }
}

static NEXT_SCHEMA: AtomicU32 = AtomicU32::new(1);

/// A fresh schema name, unique in this process and among processes.
pub fn fresh_schema() -> String {
    format!(
        "chatdesk_t{}_{}",
        std::process::id(),
        NEXT_SCHEMA.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh store ([`Durability::Relaxed`], a small pool), or `None` when
/// `CHATDESK_PG_SKIP=1`.
///
/// # Panics
/// When there is no server (and no skip), or the store cannot be opened.
pub fn temp_store_or_skip() -> Option<TempPg> {
    let url = server_url()?;
    Some(temp_store_at(
        &url,
        PgOptions {
            durability: Durability::Relaxed,
            pool_size: 4,
            ..PgOptions::default()
        },
    ))
}

/// A fresh store in a new schema of the server at `url`, with `options`
/// (its schema replaced by a fresh one).
///
/// # Panics
/// When the store cannot be opened.
pub fn temp_store_at(url: &str, options: PgOptions) -> TempPg {
    let schema = fresh_schema();
    let store = match PgStorage::open(
        url,
        PgOptions {
            schema: schema.clone(),
            ..options
        },
    ) {
        Ok(s) => s,
        Err(e) => panic!("cannot open a test store on PostgreSQL: {e}"),
    };
    TempPg {
        store: Some(store),
        url: url.to_owned(),
        schema,
    }
}

impl Storage for TempPg {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        self.store().read_tx(f)
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        self.store().write_tx(f)
    }

    fn flush(&self) -> Result<()> {
        self.store().flush()
    }

    fn backend_name(&self) -> &'static str {
        self.store().backend_name()
    }

    fn capabilities(&self) -> Capabilities {
        self.store().capabilities()
    }

    fn on_foreign_commit(&self, wake: chatdesk::backend::ForeignCommitWaker) {
        self.store().on_foreign_commit(wake);
    }
}

/// A new topic named `name`, with default settings (test set-up).
///
/// # Errors
/// The store's.
pub fn new_topic(desk: &chatdesk::ChatDesk<PgStorage>, name: &str) -> Result<chatdesk::TopicId> {
    let sys = chatdesk::Caller::system();
    let mut t = desk.create_default_chat_topic_entity(&sys);
    t.name = name.into();
    Ok(chatdesk::TopicId(
        desk.save_chat_topic_entity(&sys, &t)?.chat_topic_id,
    ))
}

/// Makes `agent` a present member of `topic` with CanRespond (test
/// set-up).
///
/// # Errors
/// The store's.
pub fn staff(
    desk: &chatdesk::ChatDesk<PgStorage>,
    topic: chatdesk::TopicId,
    agent: i32,
) -> Result<()> {
    let sys = chatdesk::Caller::system();
    desk.add_chat_topic_user_agent(
        &sys,
        &chatdesk::ChatTopicAgent {
            topic_id: topic.0,
            user: Some(chatdesk::Associate::with_id(agent)),
            can_respond: true,
            ..chatdesk::ChatTopicAgent::default()
        },
    )?;
    desk.save_chat_presence(
        &sys,
        &chatdesk::ChatPresence {
            user_id: agent,
            present: true,
            ..chatdesk::ChatPresence::default()
        },
    )?;
    Ok(())
}

/// `url` with the connections' `application_name` set to `name` (both URL
/// forms), so a test can find a process's server backends.
pub fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

/// Waits (up to `timeout`) until the server has no backend left whose
/// `application_name` is `name`: a killed client's backend may still be
/// running the last message the client sent (a commit among it).
///
/// # Errors
/// The server's, or a description when backends are still there at the
/// deadline.
pub fn wait_for_no_backends(
    url: &str,
    name: &str,
    timeout: std::time::Duration,
) -> std::result::Result<(), String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .map_err(|e| e.to_string())?;
        let n: i64 = row.get(0);
        if n == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("{n} backends of {name} still running"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
