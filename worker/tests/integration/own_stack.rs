//! A RabbitMQ node and a PostgreSQL cluster of a test's own, started from the OS binaries on
//! free loopback ports, so that a test may restart, kill or alarm them without touching the
//! shared dev stack — such tests need not be `serial_*` and disturb nobody. The node is set up
//! the way `ops/dev` sets up the dev broker (its own HOME, cookie, config files, the dev epmd
//! port); PostgreSQL runs as the `postgres` OS user with trust auth on 127.0.0.1 only.
//! Both are killed and their directories removed on drop.
//!
//! Costs, measured on the 2-core dev machine: a node boots in ~7 s and stops in ~1 s; a
//! cluster initialises in ~1.3 s and restarts in ~0.3 s.

use crate::helpers::wait_for;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

/// The dev stack's epmd port (`ops/dev`): nodes only register their names there.
const EPMD_PORT: &str = "4371";
const RABBIT_BIN: &str = "/usr/lib/rabbitmq/bin";
/// A cold boot on two busy cores.
const BOOT_DEADLINE: Duration = Duration::from_secs(90);

/// A free port on 127.0.0.1 (free when asked; good enough for a test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X") | None)
        })
        .unwrap_or(false)
}

fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// A CLI tool's stdout; panics with its stderr unless it succeeded.
fn cli_stdout(tool: &str, args: &[&str], output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Settings a test gives its node.
#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    /// Lines appended to `rabbitmq.conf` (e.g. `consumer_timeout = 5000`).
    pub conf: String,
    /// Terms inside the `rabbit` application in `advanced.config`
    /// (e.g. `{channel_tick_interval, 1000}`).
    pub advanced_rabbit: String,
}

/// A RabbitMQ node of one test.
#[derive(Debug)]
pub struct OwnBroker {
    dir: PathBuf,
    node: String,
    port: u16,
    env: Vec<(String, String)>,
    server: Option<Child>,
}

impl OwnBroker {
    /// Writes the node's files and boots it; returns once AMQP accepts a login.
    pub async fn start(config: BrokerConfig) -> Self {
        let id = &Uuid::now_v7().simple().to_string()[20..];
        let mut broker = Self::prepare(
            config,
            &format!("{:032X}", rand::random::<u128>()),
            &format!("tributary-test-{id}"),
        );
        broker.launch().await;
        broker
    }

    /// Writes the files of a node named `name@localhost` with this Erlang `cookie`, without
    /// booting it (see [`OwnBroker::launch`]). Nodes of one cluster share the cookie.
    pub fn prepare(config: BrokerConfig, cookie: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{name}-rabbit"));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        let cookie_file = dir.join(".erlang.cookie");
        std::fs::write(&cookie_file, cookie).unwrap();
        std::fs::set_permissions(
            &cookie_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o400),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        std::fs::write(
            dir.join("advanced.config"),
            format!("[{{rabbit, [{}]}}].\n", config.advanced_rabbit),
        )
        .unwrap();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{port}\n\
                 log.console = false\nlog.file.level = warning\n\
                 disk_free_limit.absolute = 50MB\n\
                 default_user = test\ndefault_pass = test\n\
                 default_permissions.configure = .*\ndefault_permissions.read = .*\n\
                 default_permissions.write = .*\n{}\n",
                config.conf
            ),
        )
        .unwrap();
        let node = format!("{name}@localhost");
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let env = vec![
            ("HOME".into(), path("")),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
            ("RABBITMQ_NODENAME".into(), node.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS".into(), "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT".into(), port.to_string()),
            ("RABBITMQ_DIST_PORT".into(), free_port().to_string()),
            ("ERL_EPMD_ADDRESS".into(), "127.0.0.1".into()),
            ("ERL_EPMD_PORT".into(), EPMD_PORT.into()),
            ("RABBITMQ_CONF_ENV_FILE".into(), path("rabbitmq-env.conf")),
            ("RABBITMQ_CONFIG_FILE".into(), path("rabbitmq.conf")),
            ("RABBITMQ_CONFIG_FILES".into(), path("conf.d")),
            (
                "RABBITMQ_ADVANCED_CONFIG_FILE".into(),
                path("advanced.config"),
            ),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE".into(),
                path("enabled_plugins"),
            ),
            ("RABBITMQ_MNESIA_BASE".into(), path("mnesia")),
            ("RABBITMQ_LOG_BASE".into(), path("log")),
            ("RABBITMQ_PID_FILE".into(), path("rabbitmq.pid")),
            (
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS".into(),
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
            (
                "RABBITMQ_CTL_ERL_ARGS".into(),
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ];
        Self {
            dir,
            node,
            port,
            env,
            server: None,
        }
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The AMQP URL of this node.
    pub fn url(&self) -> String {
        format!("amqp://test:test@127.0.0.1:{}/%2f", self.port)
    }

    /// Boots the node (again, with the same data) and waits until it accepts a login.
    pub async fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join("log/server.out")).unwrap();
        let server = Command::new(format!("{RABBIT_BIN}/rabbitmq-server"))
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server");
        self.server = Some(server);
        let url = self.url();
        wait_for("the test's RabbitMQ node to boot", BOOT_DEADLINE, || {
            let url = url.clone();
            async move {
                let nodes = tributary_broker::Nodes::parse([url.as_str()]).ok()?;
                let connection = tributary_broker::connect(&nodes, "boot probe").await.ok()?;
                let _ = connection.close(200, "probe".into()).await;
                Some(())
            }
        })
        .await;
    }

    /// `rabbitmqctl` against this node; panics unless it succeeds. Returns stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        self.cli("rabbitmqctl", args)
    }

    /// A RabbitMQ CLI tool (`rabbitmqctl`, `rabbitmq-queues`, ...) against this node; panics
    /// unless it succeeds. Returns stdout.
    pub fn cli(&self, tool: &str, args: &[&str]) -> String {
        let output = self
            .cli_command(tool, args)
            .output()
            .expect("run a RabbitMQ CLI tool");
        cli_stdout(tool, args, output)
    }

    /// As [`OwnBroker::cli`], without blocking the runtime's threads (an in-process worker
    /// shares them with the test).
    pub async fn cli_async(&self, tool: &str, args: &[&str]) -> String {
        let output = tokio::process::Command::from(self.cli_command(tool, args))
            .output()
            .await
            .expect("run a RabbitMQ CLI tool");
        cli_stdout(tool, args, output)
    }

    fn cli_command(&self, tool: &str, args: &[&str]) -> Command {
        let mut command = Command::new(format!("{RABBIT_BIN}/{tool}"));
        command
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    fn beam_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("rabbitmq.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|pid| pid_alive(*pid))
    }

    /// Graceful stop (`rabbitmqctl stop`, which waits for the node to halt).
    ///
    /// The CLI call blocks a runtime thread; a test with an in-process worker uses
    /// [`OwnBroker::stop_async`].
    pub async fn stop(&mut self) {
        let pid = self.beam_pid();
        self.ctl(&["stop"]);
        self.reap(pid).await;
    }

    /// As [`OwnBroker::stop`], without blocking the runtime's threads.
    pub async fn stop_async(&mut self) {
        let pid = self.beam_pid();
        self.cli_async("rabbitmqctl", &["stop"]).await;
        self.reap(pid).await;
    }

    /// SIGKILL of the node's Erlang VM.
    pub async fn kill(&mut self) {
        let pid = self.beam_pid();
        if let Some(pid) = pid {
            kill9(pid);
        }
        self.reap(pid).await;
    }

    async fn reap(&mut self, pid: Option<u32>) {
        if let Some(mut server) = self.server.take() {
            let _ = tokio::task::spawn_blocking(move || server.wait()).await;
        }
        if let Some(pid) = pid {
            wait_for("the node to exit", Duration::from_secs(30), || async move {
                (!pid_alive(pid)).then_some(())
            })
            .await;
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(pid) = self.beam_pid() {
            kill9(pid);
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of one test, as the `postgres` OS user.
#[derive(Debug)]
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command.current_dir("/");
    command
}

impl OwnPostgres {
    /// initdb (trust auth, loopback only, durability on) and start.
    pub async fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb");
        let id = &Uuid::now_v7().simple().to_string()[20..];
        // /var/tmp, not /tmp under a private HOME: the postgres user must reach it.
        let dir = PathBuf::from(format!("/var/tmp/tributary-test-pg-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown the cluster directory");
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
        };
        let output = as_postgres(&cluster.bin.join("initdb"))
            .arg("-D")
            .arg(cluster.dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // In postgresql.conf, not on the command line: a start after a kill reads it too.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.dir.join("data/postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(
            &mut conf,
            format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
                 max_connections = 100\nfsync = on\nsynchronous_commit = on\n",
                cluster.port,
                cluster.dir.display()
            )
            .as_bytes(),
        )
        .unwrap();
        cluster.pg_ctl(&["start", "-w"]);
        cluster
    }

    /// A URL of the `postgres` database as superuser (tests create their own database in it).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let output = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(args)
            .output()
            .unwrap();
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            panic!(
                "pg_ctl {args:?}: {}\npostgres.log (last lines, newest first):\n{}",
                String::from_utf8_lossy(&output.stderr),
                tail.join("\n")
            );
        }
    }

    /// `pg_ctl restart -m fast`: sessions are terminated, the cluster shuts down cleanly and
    /// starts again with the same options.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w"]);
    }

    /// SIGKILL of the postmaster, then a start that has to run crash recovery.
    pub async fn kill_and_start(&self) {
        let pid: u32 = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        kill9(pid);
        // Backends notice the postmaster's death and exit; a new postmaster refuses to start
        // while they still hold the old shared memory.
        let data = self.dir.join("data");
        wait_for(
            "the killed cluster's processes to exit",
            Duration::from_secs(30),
            || {
                let data = data.clone();
                async move { (!any_process_in(&data)).then_some(()) }
            },
        )
        .await;
        // The killed postmaster may linger as a zombie until its parent (pid 1 here) reaps it,
        // and a zombie passes the lock files' liveness check: postgres would refuse to start.
        // The same goes for the socket's lock file. Every process of the cluster is gone, so
        // both are stale.
        let _ = std::fs::remove_file(data.join("postmaster.pid"));
        let _ = std::fs::remove_file(self.dir.join(format!(".s.PGSQL.{}.lock", self.port)));
        self.pg_ctl(&["start", "-w"]);
    }
}

/// Whether a process has `dir` as its working directory (every postgres process of a cluster).
fn any_process_in(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == dir)
            && entry
                .file_name()
                .to_str()
                .and_then(|pid| pid.parse().ok())
                .is_some_and(pid_alive)
    })
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "immediate", "-w"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
